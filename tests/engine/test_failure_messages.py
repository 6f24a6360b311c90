"""A failed call says why in words for a person: which step timed out, an answer cut off at
max_tokens — never the instruction that was meant for the model."""

import asyncio

from promptlsp.engine import ModelSpec, make_response

SPEC = ModelSpec(model="openai/scripted", max_tokens=50, timeout=5)


def _cut(text: str) -> dict:
    return make_response(text, model=SPEC.model, prompt_tokens=10, completion_tokens=50)


async def test_an_answer_cut_off_twice_is_reported_as_such(scripted, schema) -> None:
    engine, backend = scripted([_cut('{"answer": "a very long'), _cut('{"answer": "still too long')])
    result = await engine.session().complete(SPEC, "q", schema=schema)
    assert result.failure.kind == "parse"
    assert result.failure.message == "answer cut off at max_tokens=50 twice"
    assert "give a much shorter answer" in backend.requests[1]["messages"][-1]["content"]  # that was for the model


async def test_a_cut_off_repair_and_a_plain_bad_answer(scripted, schema) -> None:
    engine, _ = scripted(["not json", _cut('{"answer": "too long')])
    result = await engine.session().complete(SPEC, "q", schema=schema)
    assert result.failure.message == "answer cut off at max_tokens=50 on the repair round"
    engine, _ = scripted(["not json", '{"answer": 1}'])
    result = await engine.session().complete(SPEC, "q", schema=schema)
    assert result.failure.message.startswith("no usable answer after one repair round: ")
    assert "shorter" not in result.failure.message


async def test_a_timeout_names_the_step_and_the_limit(scripted) -> None:
    async def hang(request):
        await asyncio.sleep(30)

    engine, backend = scripted(hang)
    result = await engine.session().complete(ModelSpec(model="m", timeout=0.05), "q", phase="summary")
    assert result.failure.kind == "timeout"
    assert result.failure.message == f"summary call to m timed out after 0.05 s ({backend.calls} attempts)"
