"""Friendly groups over the 1000 ImageNet classes (writes `hierarchy.json`).

WordNet itself is not available offline here (nltk's corpus is a download), so the
mapping is curated by hand from the WordNet-ordered class index: ImageNet's class
indices follow the WordNet hierarchy, so most groups are contiguous ranges (151-268
are dog breeds, 281-285 domestic cats, 0-397 animals, ...). Object groups that are
scattered (vehicles, food, furniture, instruments, buildings, clothing) are listed
by index after reading `synset_words.txt`. Each group names its parent groups, so a
class gets every ancestor ("beagle" -> dog -> mammal -> animal).

Run: python packaging/models/imagenet_groups.py OUT.json (the conversion script
calls `build()` itself).
"""

from __future__ import annotations

import json
import sys


def r(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# group -> (parents, class indices)
GROUPS: dict[str, tuple[list[str], list[int]]] = {
    "animal": ([], []),
    "mammal": (["animal"], []),
    "bird": (["animal"], r(7, 24) + r(80, 100) + r(127, 146)),
    "fish": (["animal"], r(0, 6) + r(389, 397)),
    "shark": (["fish"], r(2, 4)),
    "amphibian": (["animal"], r(25, 32)),
    "frog": (["amphibian"], r(30, 32)),
    "reptile": (["animal"], r(33, 68)),
    "turtle": (["reptile"], r(33, 37)),
    "lizard": (["reptile"], r(38, 48)),
    "crocodile": (["reptile"], [49, 50]),
    "dinosaur": (["reptile"], [51]),
    "snake": (["reptile"], r(52, 68)),
    "spider": (["animal"], r(72, 77) + [815]),
    "insect": (["animal"], r(300, 326)),
    "beetle": (["insect"], r(300, 307)),
    "butterfly": (["insect"], r(321, 326)),
    "bee": (["insect"], [309, 410]),
    "invertebrate": (["animal"], r(69, 79) + r(107, 126) + r(300, 329)),
    "crab": (["invertebrate"], r(118, 121) + [125]),
    "lobster": (["invertebrate"], r(122, 124)),
    "snail": (["invertebrate"], [112, 113]),
    "sea creature": (["animal"], r(107, 126) + r(147, 150) + r(327, 329) + [2, 3, 4, 5, 6, 389, 390, 391, 392, 393, 394, 395, 396, 397, 973]),
    "whale": (["mammal"], [147, 148]),
    "seal": (["mammal"], [150]),
    "dog": (["mammal"], r(151, 268)),
    "puppy": (["dog"], []),
    "wolf": (["mammal"], r(269, 272)),
    "fox": (["mammal"], r(277, 280)),
    "cat": (["mammal"], r(281, 285)),
    "big cat": (["mammal"], r(286, 293)),
    "bear": (["mammal"], r(294, 297) + [388]),
    "rabbit": (["mammal"], r(330, 332)),
    "rodent": (["mammal"], r(333, 338)),
    "horse": (["mammal"], [339, 340, 603]),
    "pig": (["mammal"], r(341, 343)),
    "cattle": (["mammal"], r(345, 347)),
    "sheep": (["mammal"], [348, 349]),
    "antelope": (["mammal"], r(350, 353)),
    "camel": (["mammal"], [354, 355]),
    "monkey": (["mammal"], r(369, 384)),
    "ape": (["mammal"], r(365, 368)),
    "primate": (["mammal"], r(365, 384)),
    "elephant": (["mammal"], [101, 385, 386]),
    "panda": (["mammal"], [387, 388]),
    "marsupial": (["mammal"], r(104, 106)),
    "vehicle": ([], [408, 450, 537, 561, 573, 575, 586, 595, 603, 612, 690, 757, 802, 803, 847, 856, 866]),
    "car": (["vehicle"], [407, 436, 468, 511, 609, 627, 656, 661, 717, 734, 751, 817, 864]),
    "truck": (["vehicle"], [555, 569, 675, 717, 864, 867]),
    "bus": (["vehicle"], [654, 779, 874]),
    "train": (["vehicle"], [466, 547, 565, 705, 820, 829]),
    "bicycle": (["vehicle"], [444, 671, 870, 880]),
    "motorcycle": (["vehicle"], [665, 670]),
    "boat": (["vehicle"], [403, 472, 484, 510, 554, 576, 625, 628, 693, 694, 724, 780, 814, 833, 871, 913, 914]),
    "aircraft": (["vehicle"], [404, 405, 417, 812, 895, 908]),
    "wheel": ([], [479, 535, 694]),
    "building": ([], [406, 410, 415, 424, 425, 449, 454, 467, 483, 497, 498, 500, 509, 538, 580, 582,
                      624, 634, 663, 668, 698, 727, 743, 762, 788, 832, 853, 858, 860, 865, 900, 915]),
    "church": (["building"], [406, 442, 497, 663, 668, 832]),
    "bridge": ([], [821, 839, 888]),
    "monument": ([], [649, 682, 863, 873]),
    "food": ([], r(923, 969) + [415, 509]),
    "fruit": (["food"], r(948, 957) + [988, 989, 990]),
    "vegetable": (["food"], r(936, 947) + [987]),
    "dish": (["food"], r(923, 935) + r(958, 965)),
    "drink": ([], [440, 441, 503, 504, 505, 550, 572, 737, 766, 898, 899, 901, 907, 966, 967, 968, 969]),
    "bread": (["food"], [930, 931, 932]),
    "dessert": (["food"], [927, 928, 929, 960]),
    "kitchen": ([], [469, 499, 521, 534, 544, 550, 567, 618, 651, 659, 729, 760, 766, 813, 827, 828, 849,
                     859, 891, 909, 910]),
    "furniture": ([], [423, 453, 492, 493, 495, 516, 520, 526, 532, 548, 559, 564, 648, 703, 736, 765,
                       831, 857, 894]),
    "chair": (["furniture"], [423, 559, 765, 857]),
    "bed": (["furniture"], [431, 516, 520, 564, 831]),
    "table": (["furniture"], [526, 532]),
    "musical instrument": ([], [401, 402, 420, 432, 486, 494, 513, 541, 546, 558, 566, 577, 579, 593, 594,
                                641, 642, 683, 684, 687, 699, 776, 822, 875, 881, 889]),
    "guitar": (["musical instrument"], [402, 546]),
    "clothing": ([], [399, 400, 411, 445, 451, 452, 457, 459, 474, 501, 552, 568, 578, 601, 608, 610,
                      614, 617, 638, 639, 652, 655, 689, 697, 735, 775, 834, 841, 842, 869, 887, 906]),
    "hat": (["clothing"], [433, 439, 452, 515, 518, 560, 667, 715, 793, 808]),
    "shoe": (["clothing"], [502, 514, 630, 770, 774]),
    "electronics": ([], [480, 481, 482, 485, 487, 508, 527, 528, 590, 592, 598, 605, 620, 632, 662, 664,
                         673, 713, 742, 745, 754, 761, 782, 851]),
    "computer": (["electronics"], [508, 527, 590, 620, 664, 673]),
    "phone": (["electronics"], [487, 528, 707]),
    "camera": (["electronics"], [732, 759]),
    "clock": ([], [409, 530, 531, 604, 826, 835, 892]),
    "tool": ([], [477, 491, 587, 596, 677, 714, 740, 783, 784, 792, 813]),
    "weapon": ([], [413, 456, 471, 657, 744, 763, 764, 777, 787]),
    "sport": ([], [416, 422, 429, 430, 522, 543, 574, 602, 702, 722, 746, 747, 752, 768, 795, 805, 852, 890, 981]),
    "ball": (["sport"], [429, 430, 522, 574, 722, 768, 805, 852, 890]),
    "toy": ([], [611, 723, 850]),
    "plant": ([], [738, 984, 985, 986, 987, 988, 989, 990]),
    "flower": (["plant"], [985, 986]),
    "mushroom": ([], [947] + r(991, 997)),
    "landscape": ([], r(970, 980) + [460, 975]),
    "mountain": (["landscape"], [970, 979, 980]),
    "beach": (["landscape"], [977, 978]),
    "water": (["landscape"], [460, 973, 974, 975, 978]),
    "person": ([], [981, 982, 983]),
    "text": ([], [916, 917, 918, 919, 921, 922]),
    "sign": (["text"], [919, 920]),
    "book": ([], [453, 454, 624, 917, 921]),
    "bottle": ([], [440, 720, 737, 898, 907]),
    "bag": ([], [414, 636, 728, 748, 797]),
    "glasses": ([], [836, 837]),
}

# Which groups count as mammals / animals without listing their classes again.
MAMMAL_EXTRA = r(101, 106) + r(147, 150) + r(151, 299) + r(330, 388)
ANIMAL_ALL = r(0, 397)


def build(n_classes: int = 1000) -> dict:
    classes: dict[int, set[str]] = {i: set() for i in range(n_classes)}

    def add(i: int, g: str) -> None:
        classes[i].add(g)
        for parent in GROUPS[g][0]:
            add(i, parent)

    for g, (_, idx) in GROUPS.items():
        for i in idx:
            add(i, g)
    for i in MAMMAL_EXTRA:
        add(i, "mammal")
    for i in ANIMAL_ALL:
        add(i, "animal")
    groups = [g for g in GROUPS if any(g in s for s in classes.values())]
    return {
        "how": "curated from the WordNet-ordered ImageNet class indices; see packaging/models/imagenet_groups.py",
        "groups": groups,
        "classes": {str(i): sorted(s) for i, s in classes.items() if s},
    }


if __name__ == "__main__":
    out = build()
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
