"""Editor settings fill in what the file leaves out; budgets take the stricter limit."""

import logging

from promptlsp.document import analyze
from promptlsp.engine import Budget
from promptlsp.lsp.config import Settings, effective

BASE = '''task = "t"
[prompt]
template = "Hi {{ name }}"
[[examples]]
vars = { name = "Ann" }
split = "validation"
'''


def test_settings_parse_tolerantly():
    s = Settings.from_json({
        "models": {"task": "openai/gpt-4o-mini", "judge": {"model": "openai/gpt-4o", "maxTokens": 64, "temperature": "hot"},
                   "critic": "x"},
        "apiBase": "http://proxy:4000", "concurrency": 0, "budget": {"maxCalls": 50, "maxUsd": "lots"},
        "method": "adam", "iterations": 3,
    })
    assert {role: m.table() for role, m in s.models.items()} == {
        "task": {"model": "openai/gpt-4o-mini"}, "judge": {"model": "openai/gpt-4o", "max_tokens": 64}}
    assert s.api_base == "http://proxy:4000" and s.concurrency is None
    assert s.budget == Budget(max_calls=50) and s.method is None and s.iterations == 3
    assert Settings.from_json("nonsense") == Settings() and Settings.from_json(None) == Settings()


def test_a_bad_setting_gets_a_warning_and_its_default_the_others_apply(caplog):
    """Each setting is read alone: a wrong type or value is one WARNING line naming it, and the
    setting keeps its default (None: the file's value, or the built-in one)."""
    with caplog.at_level(logging.WARNING, logger="promptlsp.lsp.config"):
        s = Settings.from_json({
            "apiBase": 42, "apiKeyEnv": "TEAM_KEY", "jsonSchema": "yes", "concurrency": True, "iterations": -1,
            "method": "tgd", "budget": {"maxCalls": 1.5, "maxTokens": 9000, "maxUsd": 0}, "models": ["openai/x"],
            "pythonPath": "/usr/bin/python3",  # the extension's own setting: not the server's, passed over
        })
    assert s == Settings(api_key_env="TEAM_KEY", method="tgd", budget=Budget(max_tokens=9000))
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for setting in ("apiBase: expected a string, got number 42", "jsonSchema: expected a boolean",
                    "concurrency: expected an integer, got boolean True", "iterations: must be positive, got -1",
                    "budget.maxCalls: expected an integer, got number 1.5", "budget.maxUsd: must be positive",
                    "setting models: expected an object"):
        assert setting in warned
    assert "pythonPath" not in warned and len(caplog.records) == 7
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="promptlsp.lsp.config"):  # empty fields are unset settings
        assert Settings.from_json({"apiBase": "", "method": "", "models": {"task": ""}, "budget": {"maxCalls": None}}) == Settings()
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="promptlsp.lsp.config"):
        caplog.clear()
        s = Settings.from_json({"models": {"task": {"model": "m", "seed": "7", "api_base": "http://h", "colour": 1},
                                           "judge": 3}})
    assert s.models["task"].table() == {"model": "m", "api_base": "http://h"} and "judge" not in s.models
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring setting models.task.seed: expected an integer, got string '7'",
        "ignoring setting models.task.colour: not a setting",
        "ignoring setting models.judge: expected a model name or an object, got 3"]


def test_editor_models_fill_in_what_the_file_leaves_out():
    analysis = analyze(BASE)
    settings = Settings.from_json({"models": {"task": "openai/gpt-4o-mini"}, "apiBase": "http://proxy:4000",
                                   "apiKeyEnv": "TEAM_KEY", "concurrency": 12})
    prompt = effective(analysis, settings)
    task = prompt.models.task
    assert (task.model, task.api_base, task.api_key_env, task.concurrency) == ("openai/gpt-4o-mini", "http://proxy:4000", "TEAM_KEY", 12)
    assert prompt.models.optimizer.model == "openai/gpt-4o-mini"  # inherits the task model, as in the file format


def test_the_file_wins_where_it_says_something():
    analysis = analyze(BASE + '[models.task]\nmodel = "anthropic/claude-3-5-haiku-latest"\nconcurrency = 2\n')
    prompt = effective(analysis, Settings.from_json({"models": {"task": "openai/gpt-4o-mini"}, "concurrency": 12}))
    assert prompt.models.task.model == "anthropic/claude-3-5-haiku-latest" and prompt.models.task.concurrency == 2


def test_local_models_get_no_api_base():
    prompt = effective(analyze(BASE), Settings.from_json({"apiBase": "http://proxy:4000"}))
    assert prompt.models.task.model.startswith("local/") and prompt.models.task.api_base is None


def test_budgets_take_the_stricter_limit():
    analysis = analyze(BASE + "[optimize.budget]\nmax_calls = 100\nmax_usd = 2.0\n")
    prompt = effective(analysis, Settings.from_json({"budget": {"maxCalls": 40, "maxTokens": 9000, "maxUsd": 5}}))
    assert prompt.optimize.budget == Budget(max_calls=40, max_tokens=9000, max_usd=2.0)


def test_files_with_errors_have_no_effective_prompt():
    assert effective(analyze("task = 1"), Settings()) is None


def test_progress_end_frees_the_token() -> None:
    """pygls keeps a future per progress token forever; a long-lived server must drop them."""
    from concurrent.futures import Future

    from promptlsp.lsp.progress import Progress
    from promptlsp.lsp.server import PromptLanguageServer

    ls = PromptLanguageServer()
    progress = Progress(ls)
    sent = []
    ls.work_done_progress.end = lambda token, value: sent.append((token, value.message))  # no transport here
    ls.work_done_progress.tokens["run-1"] = Future()
    progress.end("run-1", "finished")
    assert sent == [("run-1", "finished")] and "run-1" not in ls.work_done_progress.tokens
    progress.end(None, "nothing to end")  # no token: nothing sent, nothing raised
    assert len(sent) == 1


def test_json_schema_setting_reaches_every_role_from_the_editor_and_the_file(tmp_path):
    from promptlsp.document import analyze
    from promptlsp.lsp.config import Settings, effective

    text = ('task = "t"\n[prompt]\ntemplate = "{{ x }}"\n[models.task]\nmodel = "openai/qwen"\n'
            'api_base = "http://127.0.0.1:8080/v1"\njson_schema = true\n[[examples]]\nvars = { x = "1" }\n')
    analysis = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    assert analysis.ok, analysis.diagnostics
    models = analysis.prompt.models
    assert models.task.json_schema is True and models.optimizer.json_schema is True  # inherited with the model
    settings = Settings.from_json({"models": {"judge": {"model": "openai/other", "jsonSchema": True}}})
    assert effective(analysis, settings).models.judge.json_schema is True
    assert Settings.from_json({"models": {"judge": {"model": "m", "jsonSchema": "yes"}}}).models["judge"].table() == {"model": "m"}


def test_editor_json_schema_applies_to_named_remote_models_only(tmp_path):
    from promptlsp.document import analyze
    from promptlsp.lsp.config import Settings, effective

    text = 'task = "t"\n[prompt]\ntemplate = "{{ x }}"\n[[examples]]\nvars = { x = "1" }\n'
    analysis = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    settings = Settings.from_json({"models": {"optimizer": "openai/qwen"}, "apiBase": "http://127.0.0.1:8080/v1", "jsonSchema": True})
    models = effective(analysis, settings).models
    assert models.optimizer.json_schema is True and models.optimizer.api_base == "http://127.0.0.1:8080/v1"
    assert models.task.json_schema is None  # the embedded local model: the runtime knows
