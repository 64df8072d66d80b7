"""Korean: Kiwi morphemes with and without tags, lemmas, part-of-speech stopwords, the ko/auto presets."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedsearch.errors import ConfigError
from embedsearch.text.korean import hangul_share
from embedsearch.text.pipeline import Pipeline
from embedsearch.text.presets import PipelineOptions, build_pipeline

pytest.importorskip("kiwipiepy")


def tokens(*steps, text: str) -> list[str]:
    return Pipeline.of(*steps).compile().tokens(text)


def test_morphemes_with_and_without_tags():
    assert tokens("morphemes", text="나는 밥을 먹었다") == ["나", "는", "밥", "을", "먹", "었", "다"]
    assert tokens(("morphemes", {"tags": True}), text="나는 밥을 먹었다") == [
        "나/NP", "는/JX", "밥/NNG", "을/JKO", "먹/VV", "었/EP", "다/EF"]


def backends() -> list:
    try:
        import mecab  # noqa: F401
    except ImportError:
        return ["kiwi", pytest.param("mecab", marks=pytest.mark.skip(reason="python-mecab-ko not installed"))]
    return ["kiwi", "mecab"]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("word", ["먹으므로", "먹고", "먹니", "먹지", "먹으며", "먹어서"])
def test_korean_lemma_known_answers(word, backend):
    assert tokens(("morphemes", {"lemma": True, "drop_pos": "E", "backend": backend}), text=word) == ["먹다"]


@pytest.mark.parametrize("backend", backends())
def test_backends_agree_on_the_korean_preset(backend):
    pipeline = build_pipeline(PipelineOptions(lang="ko", korean_backend=backend))
    assert pipeline.compile().process("나는 밥을 먹었다. 걸어서 갔다, NASA와 \"최고\"! 예쁜 꽃") == [
        ["나", "밥", "먹다"], ["걷다", "가다", "nasa", "최고"], ["예쁘다", "꽃"]]
    with pytest.raises(ConfigError, match="backend must be kiwi or mecab"):
        tokens(("morphemes", {"backend": "komoran"}), text="x")


def test_particles_and_endings_are_dropped_by_part_of_speech():
    drop = ("morphemes", {"drop_pos": "J+E"})
    assert tokens(drop, text="학생은 학교가 좋다") == ["학생", "학교", "좋"]
    assert tokens(drop, text="책을 읽겠으나 그는 갔다") == ["책", "읽", "그", "가"]  # 을, -겠으나, 는, -았다 gone
    with pytest.raises(ConfigError, match="drop_pos"):
        tokens(("morphemes", {"drop_pos": "J E"}), text="x")


def test_irregular_verbs_lemma_and_tags():
    assert tokens(("morphemes", {"lemma": True, "tags": True, "drop_pos": "E"}), text="걸어서") == ["걷다/VV"]


def test_korean_preset():
    pipeline = build_pipeline(PipelineOptions(lang="ko"))
    assert [s.name for s in pipeline.steps] == ["nfc", "sentences", "lowercase", "morphemes"]
    compiled = pipeline.compile()
    assert compiled.process("나는 밥을 먹었다. 강아지들이 NASA와 뛰어놀았겠으나!") == [
        ["나", "밥", "먹다"], ["강아지", "들", "nasa", "뛰어놀다"]]
    assert compiled.tokens("ㅋㅋㅋ 재밌다") == ["재밌다"]  # laughter (SW) goes with punctuation; NFC kept it intact


@pytest.mark.parametrize("backend", backends())
def test_placeholders_survive_the_morpheme_tokenizer_in_context(backend):
    pipeline = build_pipeline(PipelineOptions(lang="ko", entities=["all"], korean_backend=backend))
    compiled = pipeline.compile()
    assert compiled.tokens("내용은 https://ko.wikipedia.org/wiki/서울 에서 3개") == ["내용", "<url>", "<num>", "개"]
    # the particle after a placeholder is analysed in context, and dropped like any other
    assert compiled.tokens("2024년 3월 15일에 010-1234-5678로 전화했다") == ["<date>", "<phone>", "전화", "하다"]
    auto = build_pipeline(PipelineOptions(lang="auto", entities=["all"])).compile()
    assert auto.tokens("Call 555-123-4567 now. 3개를 샀다") == ["call", "<phone>", "now", "<num>", "개", "사다"]


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(["", "학교", "에서 ", " 는", "abc", "ㅋㅋ", "!", " "]),
                                st.sampled_from(["<url>", "<num>", "<date>"])), max_size=4))
def test_placeholders_are_never_split_by_morphemes(parts):
    text = "".join(before + placeholder for before, placeholder in parts)
    tokens = Pipeline.of("entities", ("morphemes", {"drop_pos": "J+E+S"})).compile().tokens(text)
    assert [t for t in tokens if t.startswith("<")] == [placeholder for _, placeholder in parts]


def test_auto_picks_by_script_per_sentence():
    compiled = build_pipeline(PipelineOptions(lang="auto")).compile()
    assert compiled.process("나는 밥을 먹었다. The cats are jumping.") == [["나", "밥", "먹다"], ["the", "cats", "are", "jumping"]]
    assert hangul_share("한국어 text") == 3 / 7 and hangul_share("123 !") == 0.0


def test_saved_korean_pipeline_round_trip():
    pipeline = build_pipeline(PipelineOptions(lang="ko", pos_tags=True))
    again = Pipeline.from_dict(pipeline.to_dict())
    text = "서울은 한국의 수도이다."
    assert again.compile().process(text) == pipeline.compile().process(text) == [["서울/NNP", "한국/NNP", "수도/NNG", "이다/VCP"]]
