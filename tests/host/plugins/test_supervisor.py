"""Plugin processes under supervision: lazy start, crashes, restarts, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from synthral.errors import (
    ConfigInvalid,
    FrameTooLarge,
    InputInvalid,
    InvocationTimeout,
    PluginCrashed,
    PluginError,
    PluginLoadError,
    PluginProtocolError,
    PluginStartError,
    RetryableError,
    UnknownCapability,
)
from synthral.plugins.host import PluginHost
from synthral.plugins.supervisor import ProcessState, backoff_delay
from tests.conftest import GRANT_ALL
from tests.support.settings import make_settings


async def test_process_starts_lazily_and_stays_warm(noop_host: PluginHost) -> None:
    process = noop_host.process("noop", "1.0.0")
    assert process.state is ProcessState.STOPPED and process.pid is None
    first = await noop_host.invoke("noop/echo", {"value": "a"})
    second = await noop_host.invoke("noop/echo", {"value": "b"})
    assert first["process"] == second["process"] and process.pid is not None
    assert process.state is ProcessState.RUNNING


async def test_plugin_killed_mid_call_fails_retryably_and_next_call_works(noop_host: PluginHost) -> None:
    served_by = (await noop_host.invoke("noop/echo", {}))["process"]
    pid = noop_host.process("noop", "1.0.0").pid
    assert pid is not None
    call = asyncio.create_task(noop_host.invoke("noop/sleep", {"seconds": 30}))
    await asyncio.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(PluginCrashed) as caught:
        await call
    assert caught.value.retryable and "SIGKILL" in caught.value.message
    after = await noop_host.invoke("noop/echo", {"value": 1})
    assert after["value"] == 1 and after["process"] != served_by
    assert noop_host.process("noop", "1.0.0").restarts == 1


async def test_a_crashing_call_fails_with_the_exit_status(noop_host: PluginHost) -> None:
    with pytest.raises(PluginCrashed, match="exit status 70"):
        await noop_host.invoke("noop/crash", {})
    assert (await noop_host.invoke("noop/echo", {"value": 2}))["value"] == 2


def test_restart_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n) for n in range(1, 10)]
    assert delays[0] == 0.0  # the first restart is immediate: the next call works
    assert delays[1:5] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) <= 30.0 and backoff_delay(50) == 30.0


async def test_repeated_crashes_back_off_instead_of_spinning(noop_host: PluginHost) -> None:
    process = noop_host.process("noop", "1.0.0")
    for _ in range(3):
        with pytest.raises(PluginCrashed):
            await noop_host.invoke("noop/crash", {})
    assert process.failures == 3
    # The next start must wait backoff_delay(3) = 1 s; a call with a shorter deadline says so.
    context = noop_host.context(timeout=0.2)
    with pytest.raises(PluginStartError, match="crashed 3 times in a row"):
        await noop_host.invoke("noop/echo", {}, context=context)
    assert (await noop_host.invoke("noop/echo", {"value": 3}))["value"] == 3
    assert process.failures == 0


async def test_timeout_cancels_the_call_and_keeps_the_process(noop_host: PluginHost) -> None:
    served_by = (await noop_host.invoke("noop/echo", {}))["process"]
    with pytest.raises(InvocationTimeout) as caught:
        await noop_host.invoke("noop/sleep", {"seconds": 30}, context=noop_host.context(timeout=0.3))
    assert caught.value.retryable
    assert (await noop_host.invoke("noop/echo", {}))["process"] == served_by


async def test_a_plugin_ignoring_cancellation_is_restarted(noop_host: PluginHost) -> None:
    await noop_host.invoke("noop/echo", {})
    process = noop_host.process("noop", "1.0.0")
    pid = process.pid
    with pytest.raises(InvocationTimeout):
        await noop_host.invoke(
            "noop/sleep", {"seconds": 30}, config={"cooperative": False}, context=noop_host.context(timeout=0.2)
        )
    for _ in range(100):  # the cancel grace is 1 s in this fixture
        if process.pid != pid:
            break
        await asyncio.sleep(0.05)
    assert process.pid != pid
    assert (await noop_host.invoke("noop/echo", {"value": 4}))["value"] == 4


async def test_cancelling_the_caller_cancels_the_plugin_call(
    noop_host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    served_by = (await noop_host.invoke("noop/echo", {}))["process"]
    task = asyncio.create_task(noop_host.invoke("noop/async-sleep", {"seconds": 30}))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert "unknown request" not in caplog.text  # the cancellation was acknowledged, not lost
    assert (await noop_host.invoke("noop/echo", {}))["process"] == served_by


async def test_many_calls_in_flight_on_one_process(noop_host: PluginHost) -> None:
    await noop_host.invoke("noop/noop", {})
    process = noop_host.process("noop", "1.0.0")
    calls = [asyncio.create_task(noop_host.invoke("noop/async-sleep", {"seconds": 0.5})) for _ in range(8)]
    await asyncio.sleep(0.1)
    assert process._conn is not None and process._conn.in_flight == 8
    assert await asyncio.gather(*calls) == [{}] * 8


async def test_idle_process_is_stopped_and_restarted_on_demand(noop_home: Path, wheelhouse: Path) -> None:
    plugin_host = PluginHost(make_settings(noop_home, wheelhouse, idle_timeout=0.3))
    try:
        first = (await plugin_host.invoke("noop/echo", {}))["process"]
        process = plugin_host.process("noop", "1.0.0")
        for _ in range(100):
            if process.state is ProcessState.STOPPED:
                break
            await asyncio.sleep(0.05)
        assert process.state is ProcessState.STOPPED and process.restarts == 0
        second = (await plugin_host.invoke("noop/echo", {}))["process"]
        assert second != first
    finally:
        await plugin_host.close()


async def test_errors_come_back_as_the_same_types(noop_host: PluginHost) -> None:
    with pytest.raises(ConfigInvalid) as config_error:
        await noop_host.invoke("noop/sleep", {"seconds": 0}, config={"cooperative": "sometimes"})
    assert "cooperative" in config_error.value.message
    assert config_error.value.details["errors"][0]["loc"] == ["cooperative"]  # type: ignore[index]
    with pytest.raises(InputInvalid, match="seconds"):
        await noop_host.invoke("noop/sleep", {"seconds": -1})
    with pytest.raises(RetryableError) as retryable:
        await noop_host.invoke("noop/flaky", {})
    assert type(retryable.value) is RetryableError and retryable.value.details == {"status": 503}
    with pytest.raises(PluginError) as plain:
        await noop_host.invoke("noop/broken", {}, context=noop_host.context(secrets={"token": "s3cr3t-t0ken"}))
    assert plain.value.error_type == "ValueError"
    assert "s3cr3t-t0ken" not in plain.value.message and "***" in plain.value.message


async def test_unknown_capability_names_what_exists(noop_host: PluginHost) -> None:
    with pytest.raises(UnknownCapability, match="echo"):
        await noop_host.invoke("noop/does-not-exist", {})
    with pytest.raises(UnknownCapability, match="PLUGIN/CAPABILITY"):
        await noop_host.invoke("no-slash", {})
    # Straight to the process, past the host's own check:
    process = noop_host.process("noop", "1.0.0")
    with pytest.raises(UnknownCapability, match="no capability 'ghost'"):
        await process.invoke("ghost", "run", config={}, payload={}, context={})


async def test_logs_and_progress_reach_the_host_without_secrets(
    noop_host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[float | None, str]] = []
    context = noop_host.context(secrets={"token": "tok-VERY-secret"})
    context._progress = lambda progress, message: seen.append((progress, message))
    with caplog.at_level(logging.INFO, logger="synthral.plugin"):
        await noop_host.invoke("noop/progress", {}, context=context)
    assert [message for _, message in seen] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    assert seen[-1][0] == 1.0
    assert "working with token ***" in caplog.text
    assert "tok-VERY-secret" not in caplog.text


async def test_secrets_reach_only_the_call_they_are_granted_to(noop_host: PluginHost) -> None:
    process = noop_host.process("noop", "1.0.0")
    await noop_host.invoke("noop/echo", {})
    pid = process.pid
    assert pid is not None
    # The host starts bubblewrap, which starts the runner: read every process of the tree.
    environs = [Path(f"/proc/{each}/environ").read_bytes().decode(errors="replace") for each in _tree(pid)]
    assert any("SYNTHRAL_BLOB_ROOT" in environ for environ in environs)
    assert not any("SYNTHRAL_WHEELHOUSE" in environ for environ in environs)  # the host's environment stays out


def _tree(pid: int) -> list[int]:
    found = [pid]
    for each in found:
        for task in Path(f"/proc/{each}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


async def test_an_oversized_request_is_refused_before_sending(noop_host: PluginHost) -> None:
    with pytest.raises(FrameTooLarge, match="blob"):
        await noop_host.invoke("noop/echo", {"value": "x" * (17 * 1024 * 1024)})
    assert (await noop_host.invoke("noop/echo", {"value": 5}))["value"] == 5


async def test_an_oversized_answer_becomes_an_error_not_a_broken_stream(noop_host: PluginHost) -> None:
    served_by = (await noop_host.invoke("noop/echo", {}))["process"]
    with pytest.raises(FrameTooLarge, match="blob references"):
        await noop_host.invoke("noop/big", {"seconds": 17})
    assert (await noop_host.invoke("noop/echo", {}))["process"] == served_by


@pytest.fixture
async def junk_host(settings: object, fixture_wheels: dict[str, Path], host: PluginHost) -> PluginHost:
    await host.install(str(fixture_wheels["junk"]), grant=GRANT_ALL)
    return host


async def test_a_plugin_printing_to_stdout_cannot_corrupt_the_stream(junk_host: PluginHost) -> None:
    assert await junk_host.invoke("junk/noisy", {"text": "hi"}) == {"text": "HI"}
    assert junk_host.process("junk", "1.0.0").junk_lines == 0  # prints went to stderr


async def test_junk_written_into_the_protocol_pipe_is_ignored(junk_host: PluginHost) -> None:
    assert await junk_host.invoke("junk/sabotage", {}) == {"text": "sabotaged=True"}
    process = junk_host.process("junk", "1.0.0")
    assert process.junk_lines == 3
    assert await junk_host.invoke("junk/noisy", {"text": "still fine"}) == {"text": "STILL FINE"}


async def test_an_oversized_frame_from_a_plugin_restarts_it(junk_host: PluginHost) -> None:
    first = junk_host.process("junk", "1.0.0")
    await junk_host.invoke("junk/noisy", {})
    pid = first.pid
    with pytest.raises(PluginProtocolError, match="frame"):
        await junk_host.invoke("junk/flood", {"megabytes": 17})
    assert await junk_host.invoke("junk/noisy", {"text": "ok"}) == {"text": "OK"}
    assert first.pid != pid


async def test_an_installed_plugin_that_later_fails_to_start_is_reported(
    host: PluginHost, settings: object, fixture_wheels: dict[str, Path]
) -> None:
    await host.install(str(fixture_wheels["moody"]), grant=GRANT_ALL)
    mode = host.settings.plugins_dir / "moody" / "data" / "mode"
    mode.write_text("raise")
    with pytest.raises(PluginLoadError, match="licence file"):
        await host.invoke("moody/hello", {})
    mode.write_text("exit")
    with pytest.raises(PluginStartError, match="exit status 3"):
        await host.invoke("moody/hello", {})
    mode.write_text("ok")
    await asyncio.sleep(backoff_delay(2))
    assert await host.invoke("moody/hello", {}) == {}


async def test_an_installed_plugin_that_later_hangs_on_start_times_out(
    tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    installer = PluginHost(make_settings(tmp_path / "home", wheelhouse))  # a loaded machine starts it slowly
    await installer.install(str(fixture_wheels["moody"]), grant=GRANT_ALL)
    await installer.close()
    plugin_host = PluginHost(make_settings(tmp_path / "home", wheelhouse, start_timeout=1.0))
    try:
        (plugin_host.settings.plugins_dir / "moody" / "data" / "mode").write_text("hang")
        with pytest.raises(PluginStartError, match="did not answer 'initialize' within"):
            await plugin_host.invoke("moody/hello", {})
        assert plugin_host.process("moody", "1.0.0").pid is None  # the hung process was killed
    finally:
        await plugin_host.close()
