"""Keybase-format sigchains: parse (links), write (build), play back (verify)."""

from .build import (
    DEFAULT_EXPIRE_IN,
    KidOnly,
    Unsigned,
    build_device,
    build_eldest,
    build_link,
    build_per_user_key,
    build_revoke,
    build_sibkey,
    build_subkey,
    sign_inner,
    stub,
)
from .errors_map import KEYBASE_ERRORS
from .links import (
    KBAPP_BODY_VERSION,
    NAME_BY_TYPE,
    TYPE_BY_NAME,
    ChainLink,
    LinkType,
    OuterLink,
    allow_stubbing,
    link_id,
    link_id_hex,
    parse_link,
    parse_outer,
)
from .verify import ChainState, Device, KeyInfo, PukInfo, Subchain, verify_chain
from .reset import PREFIX_RESET, authorize_reset, check_reset_authorization
from .stubs import require_full

__all__ = [
    "DEFAULT_EXPIRE_IN", "KBAPP_BODY_VERSION", "KEYBASE_ERRORS", "NAME_BY_TYPE", "PREFIX_RESET", "TYPE_BY_NAME",
    "ChainLink", "ChainState", "KidOnly", "Unsigned", "Device", "KeyInfo", "LinkType", "OuterLink", "PukInfo", "Subchain",
    "allow_stubbing", "authorize_reset", "build_device", "build_eldest", "build_link", "build_per_user_key",
    "build_revoke", "build_sibkey", "build_subkey", "check_reset_authorization", "link_id", "link_id_hex", "parse_link",
    "parse_outer", "require_full", "sign_inner", "stub", "verify_chain",
]
