-- made by dump_sqlite.py; schema and rows as the old release left them
PRAGMA user_version = 0;
BEGIN;
CREATE TABLE checkpoint (
	id INTEGER NOT NULL, 
	size BIGINT NOT NULL, 
	root VARCHAR(64) NOT NULL, 
	note TEXT NOT NULL, 
	seen_at BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "checkpoint" VALUES(1, 42, '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'kbapp.test
42
root

— sig
', 1700000000);
CREATE TABLE identities (
	uid VARCHAR(32) NOT NULL, 
	username VARCHAR(32) NOT NULL, 
	tail_seqno INTEGER NOT NULL, 
	tail_link_id VARCHAR(64) NOT NULL, 
	eldest_kid VARCHAR(70) NOT NULL, 
	chain TEXT NOT NULL, 
	summary TEXT NOT NULL, 
	verified_at BIGINT NOT NULL, 
	PRIMARY KEY (uid)
);
INSERT INTO "identities" VALUES('f1e2d3c4b5a6978812345678abcdef19', 'alice', 5, 'abababababababababababababababababababababababababababababababab', '0120cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', '["{\"link\": 0}", "{\"link\": 1}", "{\"link\": 2}", "{\"link\": 3}", "{\"link\": 4}"]', '{"tail_seqno": 5, "devices": {}}', 1700000001);
CREATE TABLE proof_checks (
	sig_id VARCHAR(66) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	reason TEXT NOT NULL, 
	checked_at BIGINT NOT NULL, 
	PRIMARY KEY (sig_id)
);
INSERT INTO "proof_checks" VALUES('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ok', 'found', 1700000003);
CREATE TABLE settings (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "settings" VALUES('schema_version', '1');
INSERT INTO "settings" VALUES('server_url', 'http://127.0.0.1:8470');
INSERT INTO "settings" VALUES('server_origin', 'kbapp.test');
INSERT INTO "settings" VALUES('server_key', 'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq=');
INSERT INTO "settings" VALUES('uid', 'f1e2d3c4b5a6978812345678abcdef19');
INSERT INTO "settings" VALUES('username', 'alice');
INSERT INTO "settings" VALUES('device_id', '0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a');
INSERT INTO "settings" VALUES('device_name', 'laptop');
INSERT INTO "settings" VALUES('pref.theme', 'dark');
INSERT INTO "settings" VALUES('pref.notifications', '0');
INSERT INTO "settings" VALUES('pref.embedded', '1');
INSERT INTO "settings" VALUES('pref.embedded.port', '49152');
CREATE TABLE teams (
	team_id VARCHAR(32) NOT NULL, 
	name VARCHAR(1024) NOT NULL, 
	tail_seqno INTEGER NOT NULL, 
	tail_link_id VARCHAR(64) NOT NULL, 
	chain TEXT NOT NULL, 
	summary TEXT NOT NULL, 
	verified_at BIGINT NOT NULL, 
	PRIMARY KEY (team_id)
);
INSERT INTO "teams" VALUES('00112233445566778899aabbccddee24', 'acme', 3, 'efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef', '[{"l": 1}, {"l": 2}, {"l": 3}]', '{"members": {"alice": "owner"}, "generation": 1}', 1700000002);
COMMIT;
