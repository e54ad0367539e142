"""The corpora `textlstm data` can fetch: where each comes from, what it unpacks to, and its pinned SHA-256s.

Every URL points at a fixed commit (or a fixed release file) of the corpus's official source, so what
it serves never changes; every file the cache ends up holding has a pinned SHA-256 and size. The
files are the ones the project's guides and tests use (`../shared/data/<folder>/` on the project's
machines, named in `Corpus.shared_folder`), byte for byte. Test splits are held out as they are there.

How each pin was obtained:

- computed from the files in `../shared/data` (every `File` below);
- the downloads that are not kept as they are (tiny-shakespeare's `input.txt`, War and Peace's `2600-0.txt`,
  Multi30k's `.gz` files) were hashed from the source repository at the pinned commit, and turning them into
  the files (split, trim, gunzip) was checked to give the `../shared/data` files exactly;
- GloVe: Stanford's `glove.6B.zip` could not be seen, so the archive itself is not pinned (`sha256=None`):
  the one member kept, `glove.6B.50d.txt`, is, with the SHA-256 and size of the uncompressed text in
  `../shared/data/glove-6b-50d` (400,000 rows, 171,350,079 bytes), checked before it is moved into place.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class File:
    """One file of a downloaded corpus: its name in the corpus folder, SHA-256 (hex) and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Download:
    """One file fetched from the corpus's official source, and the corpus files it yields.

    `name` is its file name; under `TEXTLSTM_DATA_MIRROR=URL` it is fetched from `URL/<corpus>/<name>`.
    `sha256`/`size` pin the download itself (None where it could not be seen: the files it yields are
    checked instead). `unpack` says how it becomes `files`:

    - "plain": the download is `files[0]` as it is;
    - "gz": gunzipped into `files[0]`;
    - "zip", "tar.gz": `members[i]` of the archive becomes `files[i]`;
    - "split": UTF-8 text cut by character position, `files[0]` = the first 90%, `files[1]` = the next 5%
      (the last 5%, the test split, is not written);
    - "gutenberg-split": a Project Gutenberg e-book: the lines between its START and END markers, less the
      blank lines at both ends, with `\\n` line ends and one final newline, then "split".
    """

    url: str
    name: str
    sha256: str | None
    size: int | None
    unpack: str
    files: tuple[File, ...]
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Corpus:
    """A corpus: its name on the command line, what it is, its licence and how to fetch it."""

    name: str
    title: str
    licence: str  # short, for `textlstm data list`
    notice: str  # printed by `textlstm data download`: the terms and what to cite
    source: str  # where the files come from, in words
    shared_folder: str  # its folder in the project's ../shared/data
    downloads: tuple[Download, ...]
    approx_download_bytes: int | None = None  # for a download of unpinned size

    @property
    def files(self) -> tuple[File, ...]:
        """Every file the corpus folder holds once downloaded."""
        return tuple(file for download in self.downloads for file in download.files)

    @property
    def download_bytes(self) -> int:
        """The bytes fetched from the source (`approx_download_bytes` where a size is not pinned)."""
        if self.approx_download_bytes is not None:
            return self.approx_download_bytes
        return sum(download.size or 0 for download in self.downloads)


_GITHUB = "https://raw.githubusercontent.com"


def _plain(base: str, path: str, sha256: str, size: int, name: str | None = None) -> Download:
    """A file of a repository at a fixed commit, kept as it is (under `name`, default its base name)."""
    name = name or path.rsplit("/", 1)[-1]
    return Download(f"{base}/{path}", name, sha256, size, "plain", (File(name, sha256, size),))


_CHAR_RNN = f"{_GITHUB}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
_WAR_AND_PEACE = f"{_GITHUB}/GITenberg/War-and-Peace_2600/fa22ab90f00f627e83d14acabe32d91602d2365d"
_UD_EWT = f"{_GITHUB}/UniversalDependencies/UD_English-EWT/4c89b5833a70aa5ed3a00bad2f23f57992cc7df8"  # tag r2.16
_WNUT17 = f"{_GITHUB}/leondz/emerging_entities_17/e52a2d2a71ac1a051ca2d532eef28653c5c02603"
_BTC = f"{_GITHUB}/GateNLP/broad_twitter_corpus/0c45ef7b1924a6b8115bceab388781590b1b553a"
_MULTI30K = f"{_GITHUB}/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw"


def _multi30k(split: str, lang: str, gz_sha256: str, gz_size: int, sha256: str, size: int) -> Download:
    name = f"{split}.{lang}"
    return Download(f"{_MULTI30K}/{name}.gz", f"{name}.gz", gz_sha256, gz_size, "gz", (File(name, sha256, size),))


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="tinyshakespeare",
        title="tiny-shakespeare: 1.1 M characters of Shakespeare's plays, char-level LM (train/valid)",
        licence="public domain",
        notice=(
            "tiny-shakespeare: a selection of Shakespeare's plays, public domain (the char-rnn repository that "
            "hosts it is MIT-licensed). Split by character position: train = the first 90%, valid = the next "
            "5%; the last 5% (test) is held out."
        ),
        source="GitHub karpathy/char-rnn @ 6f9487a, data/tinyshakespeare/input.txt",
        shared_folder="tiny-shakespeare",
        downloads=(
            Download(
                f"{_CHAR_RNN}/data/tinyshakespeare/input.txt",
                "input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                1_115_394,
                "split",
                (
                    File("train.txt", "a9e24e23a1ec77744dad26844bfd5a09b6e041954e1eef0000e7f24cba6db735", 1_003_854),
                    File("valid.txt", "c64e90c160750d91a9d2d9b1ace5eab1a440f5a1701d32a8e97a179b7839f1c8", 55_770),
                ),
            ),
        ),
    ),
    Corpus(
        name="warpeace",
        title="War and Peace (Maude translation): 3.2 M characters of novel prose, char-level LM (train/valid)",
        licence="public domain",
        notice=(
            "War and Peace, Leo Tolstoy, translated by Louise and Aylmer Maude: public domain, from Project "
            "Gutenberg e-book #2600 (please credit Project Gutenberg). The Project Gutenberg header, footer and "
            "licence are removed. Split by character position: train = the first 90%, valid = the next 5%; the "
            "last 5% (test) is held out."
        ),
        source="GitHub GITenberg/War-and-Peace_2600 @ fa22ab9, 2600-0.txt (Project Gutenberg #2600)",
        shared_folder="war-and-peace",
        downloads=(
            Download(
                f"{_WAR_AND_PEACE}/2600-0.txt",
                "2600-0.txt",
                "6cbcc5ca5e590fb9ace161a5b93e4ecf280d7118104be0d63b686c004cfa70ae",
                3_359_542,
                "gutenberg-split",
                (
                    File("train.txt", "f7b074da4d69d151e1fe44a216fdf01d03a9a29f4a50711b1ae8deb22d5e385e", 2_948_869),
                    File("valid.txt", "2ba30277ec7e64ece5238438d7ff3eae1956a6a3ed69617cb686917ba809a137", 163_043),
                ),
            ),
        ),
    ),
    Corpus(
        name="ud-ewt",
        title="UD English EWT r2.16: English web text in CoNLL-U, POS tagging (12,544 train, 2,001 dev sentences)",
        licence="CC BY-SA 4.0",
        notice=(
            "Universal Dependencies English Web Treebank r2.16: CC BY-SA 4.0 (annotations (c) Stanford "
            "University; texts from the LDC English Web Treebank); see LICENSE.txt in the corpus folder. "
            "Share derived data under the same licence. Cite Silveira et al. (2014), A Gold Standard "
            "Dependency Corpus for English, LREC."
        ),
        source="GitHub UniversalDependencies/UD_English-EWT, tag r2.16 (4c89b58)",
        shared_folder="ud-english-ewt",
        downloads=(
            _plain(
                _UD_EWT,
                "en_ewt-ud-train.conllu",
                "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
                14_203_025,
            ),
            _plain(
                _UD_EWT,
                "en_ewt-ud-dev.conllu",
                "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
                1_805_545,
            ),
            _plain(_UD_EWT, "LICENSE.txt", "b3d1b0f4c6ae151f7eb78738f46ebd5ee140f8a7f76501ba26af123140d35ae7", 20_014),
        ),
    ),
    Corpus(
        name="wnut17",
        title="WNUT-17 emerging and rare entities: English social-media NER, 6 types, BIO (train/dev)",
        licence="CC BY 4.0",
        notice=(
            "WNUT-17 Emerging and Rare Entities: CC BY 4.0. Cite Derczynski, Nichols, van Erp and "
            "Limsopatham (2017), Results of the WNUT2017 Shared Task on Novel and Emerging Entity Recognition, "
            "W-NUT at EMNLP."
        ),
        source="GitHub leondz/emerging_entities_17 @ e52a2d2",
        shared_folder="wnut17",
        downloads=(
            _plain(
                _WNUT17,
                "wnut17train.conll",
                "731820e13f71af324c6b55a1575ec2ce59fbaa2a0806f8f0400b98d56cd6a7a5",
                493_781,
            ),
            _plain(
                _WNUT17,
                "emerging.dev.conll",
                "e053b752b8155113ca66e7db08af5f2f5f43ab993694e4774f1ec5bad42312d8",
                114_749,
            ),
        ),
    ),
    Corpus(
        name="btc",
        title="Broad Twitter Corpus: tweets with PER/ORG/LOC entities, BIO, the recommended split (train/dev)",
        licence="CC BY 4.0",
        notice=(
            "Broad Twitter Corpus: CC BY 4.0 (see LICENSE in the corpus folder). Cite Derczynski, Bontcheva "
            "and Roberts (2016), Broad Twitter Corpus: A Diverse Named Entity Recognition Resource, COLING."
        ),
        source="GitHub GateNLP/broad_twitter_corpus @ 0c45ef7, train_dev_test_conll/",
        shared_folder="broad-twitter-corpus",
        downloads=(
            _plain(
                _BTC,
                "train_dev_test_conll/btc.train",
                "2117732e744d8f1692786c7ebb919c52dadd406f082b43fe1e625a51f2cadd0f",
                827_726,
            ),
            _plain(
                _BTC,
                "train_dev_test_conll/btc.dev",
                "9f7d33bcd195cecf9767357a5f1fe0ba879af6c55ebb68b8e846bff23c4e7fa5",
                119_810,
            ),
            _plain(_BTC, "LICENSE", "45b49c17b0ac37854bd48a9241a17dad2c271ca3e3e11ae61d82231a7ddb03d0", 1_358),
        ),
    ),
    Corpus(
        name="multi30k",
        title="Multi30k task 1: image captions in English, German and French, translation (29,000 train, 1,014 val)",
        licence="research/education only",
        notice=(
            "Multi30k has NO open licence: its authors provide it solely for non-commercial research and "
            "educational use (it derives from the Flickr30K captions and shares their terms). Do not use it "
            "commercially. Cite Elliott et al. (2016), Multi30K: Multilingual English-German Image "
            "Descriptions, and Elliott et al. (2017) for French."
        ),
        source="GitHub multi30k/dataset @ a3d2e0d, data/task1/raw/*.gz",
        shared_folder="multi30k",
        downloads=(
            _multi30k(
                "train",
                "en",
                "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                568_929,
                "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
                1_801_238,
            ),
            _multi30k(
                "train",
                "de",
                "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                637_044,
                "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
                2_110_398,
            ),
            _multi30k(
                "train",
                "fr",
                "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
                604_242,
                "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
                2_111_303,
            ),
            _multi30k(
                "val",
                "en",
                "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                21_650,
                "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
                63_297,
            ),
            _multi30k(
                "val",
                "de",
                "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                24_681,
                "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
                75_981,
            ),
            _multi30k(
                "val",
                "fr",
                "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
                23_001,
                "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
                73_924,
            ),
        ),
    ),
    Corpus(
        name="glove-6b-50d",
        title="GloVe 6B 50d: 400,000 uncased English word vectors (Wikipedia + Gigaword), for --word-vectors",
        licence="PDDL 1.0",
        notice=(
            "GloVe 6B: Open Data Commons Public Domain Dedication and License (PDDL 1.0), as Stanford releases "
            "it. Cite Pennington, Socher and Manning (2014), GloVe: Global Vectors for Word Representation, "
            "EMNLP. The download is Stanford's whole glove.6B.zip (about 822 MiB, all four sizes); only "
            "glove.6B.50d.txt (171 MB) is kept."
        ),
        source="Stanford NLP, glove.6B.zip (nlp.stanford.edu/projects/glove)",
        shared_folder="glove-6b-50d",
        downloads=(
            Download(
                "https://nlp.stanford.edu/data/glove.6B.zip",
                "glove.6B.zip",
                None,  # not seen here: the member kept is pinned instead
                None,
                "zip",
                (
                    File(
                        "glove.6B.50d.txt",
                        "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f",
                        171_350_079,
                    ),
                ),
                members=("glove.6B.50d.txt",),
            ),
        ),
        approx_download_bytes=862_000_000,  # about 822 MiB, as Stanford lists it
    ),
)
