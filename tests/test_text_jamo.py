"""Jamo: every Hangul syllable decomposed and composed back, the pipeline step, and a jamo store that
takes Hangul queries and answers in Hangul."""
from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest

import embedsearch
from embedsearch.text.jamo import CHOSEONG, FILLER, JONGSEONG, JUNGSEONG, compose, decompose
from embedsearch.text.pipeline import Pipeline
from embedsearch.text.presets import PipelineOptions, build_pipeline

SYLLABLES = [chr(code) for code in range(0xAC00, 0xD7A4)]


def test_every_syllable_round_trips_through_three_jamo():
    assert len(SYLLABLES) == 11_172
    seen = set()
    for syllable in SYLLABLES:
        jamo = decompose(syllable)
        assert len(jamo) == 3 and jamo[0] in CHOSEONG and jamo[1] in JUNGSEONG and jamo[2] in JONGSEONG
        assert compose(jamo) == syllable
        seen.add(jamo)
    assert len(seen) == 11_172  # no two syllables share a decomposition
    everything = "".join(SYLLABLES)
    assert compose(decompose(everything)) == everything


def test_jamo_agree_with_unicode_decomposition():
    # NFD gives conjoining jamo (HANGUL CHOSEONG KIYEOK...); ours are the compatibility letters of
    # the same names (HANGUL LETTER KIYEOK), position by position.
    for syllable in random.Random(3).sample(SYLLABLES, 1000):
        conjoining = unicodedata.normalize("NFD", syllable)
        ours = decompose(syllable)
        names = [unicodedata.name(ch).split(maxsplit=2)[2] for ch in conjoining]
        assert [unicodedata.name(ch).removeprefix("HANGUL LETTER ") for ch in ours if ch != FILLER] == names
        assert (ours[2] == FILLER) == (len(conjoining) == 2)


def test_known_decompositions():
    assert decompose("학교") == "ㅎㅏㄱㄱㅛ-"
    assert decompose("닭") == "ㄷㅏㄺ"
    assert decompose("가") == "ㄱㅏ-" and decompose("각") == "ㄱㅏㄱ"
    assert compose("ㄱㅏㄱㄱㅏ-") == "각가"  # three characters a syllable: no ambiguity at the boundary


@pytest.mark.parametrize("text", [
    "서울 Seoul 2024년 ㅋㅋㅋ ㅠㅠ 漢字 café, naïve!",
    "", "abc", "ㄱ", "ㄱㅏ", "-", "가-", "ㅏ-ㄱ", "日本語とハングル한글", "e\u0301 ㅎ ㅎ",
])
def test_mixed_text_round_trips_and_non_hangul_is_untouched(text):
    decomposed = decompose(text)
    assert compose(decomposed) == text
    kept = [ch for ch in text if not 0xAC00 <= ord(ch) <= 0xD7A3]
    assert [ch for ch in decomposed if ch not in CHOSEONG + JUNGSEONG + JONGSEONG] == [
        ch for ch in kept if ch not in CHOSEONG + JUNGSEONG + JONGSEONG]
    if not any(0xAC00 <= ord(ch) <= 0xD7A3 for ch in text):
        assert decomposed == text


def test_jamo_step_in_a_pipeline_and_its_display():
    pipeline = Pipeline.of("nfc", "whitespace", "jamo")
    assert pipeline.compile().tokens("학교 갔다 ok") == ["ㅎㅏㄱㄱㅛ-", "ㄱㅏㅆㄷㅏ-", "ok"]
    shown = pipeline.display()
    assert shown is not None and shown("ㅎㅏㄱㄱㅛ-") == "학교" and shown("ok") == "ok"
    assert Pipeline.of("nfc", "whitespace").display() is None
    saved = Pipeline.from_dict(pipeline.to_dict())
    assert saved == pipeline and saved.display()("ㄱㅏㅆㄷㅏ-") == "갔다"


def test_korean_preset_with_jamo_runs_after_the_morphemes():
    pytest.importorskip("kiwipiepy")
    options = PipelineOptions(lang="ko", jamo=True)
    pipeline = build_pipeline(options)
    assert [s.name for s in pipeline.steps][-2:] == ["morphemes", "jamo"]
    assert pipeline.compile().tokens("나는 학교에서 밥을 먹었다") == ["ㄴㅏ-", "ㅎㅏㄱㄱㅛ-", "ㅂㅏㅂ", "ㅁㅓㄱㄷㅏ-"]
    # builtin Korean stopwords still see composed words: jamo comes after them
    stop = build_pipeline(PipelineOptions(lang="ko", jamo=True, builtin_stopwords=("ko",)))
    names = [s.name for s in stop.steps]
    assert names.index("stopwords") < names.index("jamo")


def _tiny_korean_text(path: Path) -> Path:
    """Two topics that never meet: fruit is eaten, animals are raised."""
    rng = random.Random(5)
    fruit = ["사과", "포도", "귤", "딸기", "복숭아"]
    animals = ["고양이", "강아지", "호랑이", "토끼", "햄스터"]
    lines = []
    for _ in range(1500):
        lines.append(f"{rng.choice(fruit)} {rng.choice(fruit)} 맛있다 먹다 달콤하다 {rng.choice(fruit)}")
        lines.append(f"{rng.choice(animals)} 귀엽다 키우다 {rng.choice(animals)} 털 {rng.choice(animals)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def jamo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("jamo")
    corpus = embedsearch.ingest([_tiny_korean_text(work / "ko.txt")], work / "corpus",
                                pipeline=Pipeline.of("nfc", "whitespace", "jamo"), workers=1)
    path = work / "store"
    config = embedsearch.TrainConfig(arch="skipgram", dim=24, window=3, sample=0, negative=5, epochs=5, alpha=0.025,
                                     min_count=3, workers=1, seed=3)
    embedsearch.train(corpus, path, config=config)
    return path


def test_jamo_store_answers_a_hangul_query_with_hangul_neighbours(jamo_store: Path):
    fruit = {"사과", "포도", "귤", "딸기", "복숭아"}
    with embedsearch.open_store(jamo_store) as store:
        assert "ㅅㅏ-ㄱㅘ-" in store and "사과" not in store  # the vocabulary is jamo...
        result = store.similar("사과", k=3)  # ...a query typed in Hangul goes through the store's pipeline
        assert result.terms[0].words == ["ㅅㅏ-ㄱㅘ-"]
        words = [n.word for n in result.neighbors]
        assert words[0] in fruit and set(words) <= fruit | {"맛있다", "먹다", "달콤하다"}  # ...and answers are composed
        analogy = store.analogy("고양이", "강아지", "사과", k=3)
        assert (analogy.a, analogy.b, analogy.c) == ("고양이", "강아지", "사과")
        assert all(not any(ch in "ㄱㄴㄷㅏㅓ-" for ch in n.word) for n in analogy.neighbors)
        odd = store.doesnt_match(["사과", "포도", "귤", "고양이"])
        assert odd.odd_one_out == "고양이"


def test_served_answers_of_a_jamo_store_are_composed(jamo_store: Path):
    from embedsearch.serve.engine import similar_among, similar_to_vector

    with embedsearch.open_store(jamo_store) as store:
        by_vector = similar_to_vector(store, store.resolve("사과")[1].tolist(), k=3)
        assert by_vector.neighbors[0].word == "사과"  # itself, composed
        among = similar_among(store, "사과", ["포도", "고양이"], k=2)
        assert [n.word for n in among.neighbors] == ["포도", "고양이"]


def test_cli_jamo_option():
    from click.testing import CliRunner

    from embedsearch.cli import main

    out = CliRunner().invoke(main, ["tokenize", "--tokenizer", "whitespace", "--jamo", "학교 닭 ok"])
    assert out.exit_code == 0, out.output
    assert out.output.split() == ["ㅎㅏㄱㄱㅛ-", "ㄷㅏㄺ", "ok"]
