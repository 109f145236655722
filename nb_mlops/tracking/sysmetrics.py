"""System metrics of a run: CPU, memory, disk, network and GPU, read by a background thread.

While a top-level run is active, the process's sampling thread reads the machine's counters
every `interval` seconds and logs them as the run's metrics: the step is the sample's index
(0, 1, ...) and the time is recorded as for any point. The interval is
`[tracking] system_metrics_interval` in the store's config.toml (seconds, default 10; 0 turns
sampling off), or per run `start_run(system_metrics=False | True | seconds)`.

Metrics (MB = 10^6 bytes; IO totals count from the run's start, see below):

    system.cpu_percent           CPU busy since the previous sample, all cores together (0-100)
    system.memory_used_mb        memory in use (total minus available)
    system.memory_percent        the same, as % of total memory
    system.process_memory_mb     resident memory of the process running the run (the kernel)
    system.disk_read_mb          bytes read from all disks
    system.disk_write_mb         bytes written to all disks
    system.disk_used_percent     space used on the filesystem that holds the workspace
    system.net_sent_mb           bytes sent through all network interfaces
    system.net_recv_mb           bytes received through all network interfaces
    system.gpu<i>.utilization_percent   per NVIDIA GPU i (0, 1, ...): % of the driver's last
    system.gpu<i>.memory_used_mb        sample window the GPU was busy; memory used; and
    system.gpu<i>.memory_percent        that as % of the GPU's memory

GPUs are read through pynvml (the `nvidia-ml-py` package) when it imports and finds a driver,
else through `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` when it is on the PATH;
with neither there are no GPU metrics and nothing is said.

When: the first sample one period after the run starts, then one every period, and a last one
when the run ends (covering the stretch since the previous sample, unless that is shorter
than half a period or a second). A run shorter than one period has no system metrics: a
quick cell stays quick and the runs table uncluttered; lower the interval to sample those.
Only top-level runs sample: a child run (a sweep inside a tracked cell) shares its parent's
machine and time span, and 50 children would read the same counters 50 times over.

Costs: a sample is a few reads of /proc through psutil (about 1 ms of CPU) and, with
nvidia-smi, one short subprocess. One daemon thread samples for every run of the process
(`Hub`): started by the first run that samples, it sleeps until the next sample is due and
waits without waking while no run samples. Starting a run registers it (microseconds);
ending it unregisters it, waits for a sample in progress and takes the last sample itself,
so nothing is read for a run after it ends. The baselines (CPU times, IO counters) are read
a quarter second after the start (a quarter period if shorter), so the IO totals count from
then and a run shorter than that reads nothing. Disabled, nothing is registered, no thread
starts and psutil is not imported. Nothing here raises into the user's code: a part that
fails (nvidia-smi exits 1 or prints garbage, a counter psutil cannot read) is left out for
the rest of the run and reported in one log line, once per process.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from nb_mlops.errors import InvalidValue

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 10.0
MIN_INTERVAL_S = 0.1
"""Shorter periods would make the sampler itself a load (and flood the run's metrics)."""
PREFIX = "system."
CONFIG_SECTION = "tracking"
CONFIG_KEY = "system_metrics_interval"
NVIDIA_SMI_ARGS = (
    "--query-gpu=utilization.gpu,memory.used,memory.total",
    "--format=csv,noheader,nounits",
)
NVIDIA_SMI_TIMEOUT_S = 5.0
SETTLE_S = 0.25
"""The baselines (CPU times, IO counters) are read this long after the run starts (or a
quarter period, if shorter), so a quick run never waits for them at its end."""
POLL_S = 0.5
"""While runs have just sampled, the thread looks for newly started ones this often."""
LINGER_S = 60.0
"""... for this long after the last one ended; then it waits without waking."""
STOP_WAIT_S = 1.0
"""How long ending a run waits for a sample in progress before killing a slow nvidia-smi."""
MB = 1e6
MIB = 1024 * 1024  # nvidia-smi reports memory in MiB


class GpuReadError(Exception):
    """A GPU reader did not answer usably (exit status, garbage, timeout)."""


def is_system_metric(key: str) -> bool:
    """Whether a metric name is one the sampler writes (comparisons of runs may skip these)."""
    return key.startswith(PREFIX)


# ------------------------------------------------------------------------ configuration
def sampling_interval(
    option: Any, config: Mapping[str, Any], where: object = "config.toml"
) -> float | None:
    """Seconds between samples for a run started with `system_metrics=option`; None = off.

    `option`: None follows the config (`[tracking] system_metrics_interval`, default 10 s,
    0 = off); False turns sampling off; True turns it on at the configured interval (the
    default when the config says 0); a number of seconds (>= 0.1) is used as it is. Anything
    else is an InvalidValue naming what is wrong; `where` names the config file in messages.
    """
    if option is False:
        return None
    if option is None or option is True:
        configured = _configured(config, where)
        if configured is None:
            return DEFAULT_INTERVAL_S if option is True else None
        return configured
    seconds = _seconds(option)
    if seconds is None:
        hint = "; use system_metrics=False to turn sampling off" if _is_zero(option) else ""
        raise InvalidValue(
            "system_metrics must be True, False or a number of seconds between samples "
            f"(at least {MIN_INTERVAL_S:g}), got {option!r}{hint}"
        )
    return seconds


def _configured(config: Mapping[str, Any], where: object) -> float | None:
    section = config.get(CONFIG_SECTION, {})
    if not isinstance(section, dict):
        raise InvalidValue(
            f"{where}: {CONFIG_SECTION} must be a table ([{CONFIG_SECTION}]), got {section!r}"
        )
    value = section.get(CONFIG_KEY, DEFAULT_INTERVAL_S)
    if _is_zero(value):
        return None
    seconds = _seconds(value)
    if seconds is None:
        raise InvalidValue(
            f"{where}: [{CONFIG_SECTION}] {CONFIG_KEY} must be a number of seconds "
            f"(at least {MIN_INTERVAL_S:g}; 0 turns system metrics off), got {value!r}"
        )
    return seconds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_zero(value: Any) -> bool:
    return _is_number(value) and value == 0


def _seconds(value: Any) -> float | None:
    if _is_number(value) and math.isfinite(value) and value >= MIN_INTERVAL_S:
        return float(value)
    return None


# ------------------------------------------------------------------------ saying things once
said_once: set[str] = set()
"""Keys of the messages already logged in this process (tests clear it)."""
_said_lock = threading.Lock()


def say_once(key: str, message: str) -> None:
    """Log `message` as a warning unless a message under `key` was logged in this process."""
    with _said_lock:
        if key in said_once:
            return
        said_once.add(key)
    log.warning(message)


# ------------------------------------------------------------------------ GPU readers
class NvidiaSmi:
    """GPUs through `nvidia-smi`'s CSV query output, one short subprocess per sample."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.key = f"nvidia-smi:{path}"
        self.killed = False
        self._proc: Any = None

    def __repr__(self) -> str:
        return f"nvidia-smi ({self.path})"

    def read(self, timeout: float = NVIDIA_SMI_TIMEOUT_S) -> list[dict[str, float]]:
        import subprocess

        proc = self._proc = subprocess.Popen(
            [self.path, *NVIDIA_SMI_ARGS],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise GpuReadError(f"{self!r} did not answer within {timeout:g} s") from None
        finally:
            self._proc = None
        if proc.returncode != 0:
            said = (err or out).decode("utf-8", "replace").strip().splitlines()
            detail = f": {said[0][:200]}" if said else ""
            raise GpuReadError(f"{self!r} exited with status {proc.returncode}{detail}")
        try:
            return parse_nvidia_smi(out.decode("utf-8", "replace"))
        except GpuReadError as exc:  # "nvidia-smi printed ..." -> "nvidia-smi (PATH) printed ..."
            raise GpuReadError(f"{self!r}{str(exc).removeprefix('nvidia-smi')}") from None

    def kill(self) -> None:
        """Stop a call in progress (the run is ending and it is too slow); read no more."""
        self.killed = True
        proc = self._proc
        if proc is not None:
            try:
                proc.kill()
            except OSError:
                pass


def parse_nvidia_smi(text: str) -> list[dict[str, float]]:
    """Per GPU, in index order: its metrics from lines `utilization, used MiB, total MiB`.

    A field nvidia-smi cannot give (`[N/A]`, `[Not Supported]`) is left out; a line that is not
    three fields, or an answer without a single number, is a GpuReadError.
    """
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3:
            raise GpuReadError(f"nvidia-smi printed {line.strip()[:80]!r}, not 3 CSV fields")
        util, used, total = (_number(field) for field in fields)
        gpu: dict[str, float] = {}
        if util is not None:
            gpu["utilization_percent"] = util
        if used is not None:
            gpu["memory_used_mb"] = used * MIB / MB
            if total:
                gpu["memory_percent"] = 100.0 * used / total
        gpus.append(gpu)
    if gpus and not any(gpus):
        raise GpuReadError(f"nvidia-smi gave no numbers: {text.strip()[:80]!r}")
    return gpus


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class Nvml:
    """GPUs through NVML (the `pynvml` module of nvidia-ml-py): no subprocess per sample."""

    key = "pynvml"
    killed = False

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        nvml.nvmlInit()  # kept initialised for the process: it is slow on some machines
        try:
            count = nvml.nvmlDeviceGetCount()
            self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:
            _quietly(nvml.nvmlShutdown)
            raise

    def __repr__(self) -> str:
        return "NVML (pynvml)"

    def read(self, timeout: float = NVIDIA_SMI_TIMEOUT_S) -> list[dict[str, float]]:
        gpus = []
        for handle in self.handles:
            gpu: dict[str, float] = {}
            try:
                gpu["utilization_percent"] = float(
                    self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                )
            except Exception:  # not supported on this device (some MIG or embedded GPUs)
                pass
            try:
                mem = self.nvml.nvmlDeviceGetMemoryInfo(handle)
                gpu["memory_used_mb"] = mem.used / MB
                if mem.total:
                    gpu["memory_percent"] = 100.0 * mem.used / mem.total
            except Exception:
                pass
            gpus.append(gpu)
        if gpus and not any(gpus):
            raise GpuReadError("NVML answered no utilization or memory for any GPU")
        return gpus

    def kill(self) -> None:
        pass


_nvml: list[Nvml] = []  # the process's NVML reader, once one worked


def find_gpu() -> Nvml | NvidiaSmi | None:
    """pynvml when it imports and finds a driver, else nvidia-smi on the PATH, else None."""
    try:
        import pynvml
    except Exception:  # not installed (ImportError), or broken on import
        pynvml = None
    if pynvml is not None:
        if _nvml and _nvml[0].nvml is pynvml:
            return _nvml[0]
        try:
            reader = Nvml(pynvml)
        except Exception as exc:  # no driver, no GPU: not worth a warning
            log.debug("pynvml found no GPU: %r", exc)
        else:
            _nvml[:] = [reader]
            return reader
    import shutil

    path = shutil.which("nvidia-smi")
    return NvidiaSmi(path) if path else None


# ------------------------------------------------------------------------ one sample
class SystemReader:
    """Reads the counters; IO totals count from when the reader was made (the run's start)."""

    def __init__(
        self, disk_path: str | os.PathLike | None = None, gpu: Any = "auto", label: str = "a run"
    ) -> None:
        import psutil

        self.psutil = psutil
        self.label = label
        self.disk_path = os.fspath(disk_path) if disk_path is not None else os.getcwd()
        self.process = psutil.Process()
        self.off: set[str] = set()
        self.cpu0 = _quietly(lambda: _cpu(psutil.cpu_times()))  # a part that cannot read
        self.disk0 = _quietly(self.disk_bytes)  # its baseline fails on its first sample
        self.net0 = _quietly(self.net_bytes)
        self.gpu = find_gpu() if gpu == "auto" else gpu
        self.gpu_timeout = NVIDIA_SMI_TIMEOUT_S
        self.parts: list[tuple[str, Callable[[], dict[str, float]]]] = [
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("process memory", self.process_memory),
            ("disk IO", self.disk_io),
            ("disk usage", self.disk_usage),
            ("network IO", self.net_io),
            ("gpu", self.gpus),
        ]

    def read(self, gpu_timeout: float = NVIDIA_SMI_TIMEOUT_S) -> dict[str, float]:
        """Every part that works, as `system.*` metric name -> value."""
        self.gpu_timeout = gpu_timeout
        out: dict[str, float] = {}
        for name, part in self.parts:
            if name in self.off:
                continue
            try:
                out.update(part())
            except Exception as exc:
                self.off.add(name)
                self.failed(name, exc)
        return out

    def failed(self, name: str, exc: Exception) -> None:
        if name == "gpu":
            gpu = self.gpu
            if gpu is None or gpu.killed:  # killed by the run's end: not a fault
                return
            say_once(
                f"gpu:{gpu.key}",
                f"nb-mlops: no GPU metrics for {self.label}: {exc} "
                "(said once per process; the other system metrics go on)",
            )
            return
        say_once(
            name,
            f"nb-mlops: no {name} metrics for {self.label}: {type(exc).__name__}: {exc} "
            "(said once per process)",
        )

    def cpu(self) -> dict[str, float]:
        now, before = _cpu(self.psutil.cpu_times()), self.cpu0
        self.cpu0 = now
        if before is None:
            return {}
        total, busy = now[0] - before[0], now[1] - before[1]
        pct = 100.0 * busy / total if total > 0 else 0.0
        return {PREFIX + "cpu_percent": min(100.0, max(0.0, pct))}

    def memory(self) -> dict[str, float]:
        vm = self.psutil.virtual_memory()
        return {
            PREFIX + "memory_used_mb": (vm.total - vm.available) / MB,
            PREFIX + "memory_percent": float(vm.percent),
        }

    def process_memory(self) -> dict[str, float]:
        return {PREFIX + "process_memory_mb": self.process.memory_info().rss / MB}

    def disk_bytes(self) -> tuple[int, int] | None:
        return _io(self.psutil.disk_io_counters(), "read_bytes", "write_bytes")

    def net_bytes(self) -> tuple[int, int] | None:
        return _io(self.psutil.net_io_counters(), "bytes_sent", "bytes_recv")

    def disk_io(self) -> dict[str, float]:
        now = self.disk_bytes()
        if now is None or self.disk0 is None:  # no disks this machine lets us see
            self.disk0 = self.disk0 or now
            return {}
        return {
            PREFIX + "disk_read_mb": max(0, now[0] - self.disk0[0]) / MB,
            PREFIX + "disk_write_mb": max(0, now[1] - self.disk0[1]) / MB,
        }

    def disk_usage(self) -> dict[str, float]:
        return {PREFIX + "disk_used_percent": float(self.psutil.disk_usage(self.disk_path).percent)}

    def net_io(self) -> dict[str, float]:
        now = self.net_bytes()
        if now is None or self.net0 is None:
            self.net0 = self.net0 or now
            return {}
        return {
            PREFIX + "net_sent_mb": max(0, now[0] - self.net0[0]) / MB,
            PREFIX + "net_recv_mb": max(0, now[1] - self.net0[1]) / MB,
        }

    def gpus(self) -> dict[str, float]:
        if self.gpu is None or self.gpu.killed:
            return {}
        out = {}
        for i, gpu in enumerate(self.gpu.read(self.gpu_timeout)):
            for name, value in gpu.items():
                out[f"{PREFIX}gpu{i}.{name}"] = value
        return out

    def kill(self) -> None:
        if self.gpu is not None:
            self.gpu.kill()


def _cpu(times: Any) -> tuple[float, float]:
    """(total, busy) CPU seconds; guest time is already inside user time on Linux."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total, total - idle


def _quietly(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:
        return None


def _io(counters: Any, a: str, b: str) -> tuple[int, int] | None:
    return None if counters is None else (getattr(counters, a), getattr(counters, b))


# ------------------------------------------------------------------------ the thread
class Sampler:
    """One run's sampling: its reader, schedule and sample count. The process's sampling thread
    (`Hub`) takes its periodic samples; `stop()`, at the run's end, takes the last one."""

    def __init__(
        self,
        log_metrics: Callable[[dict[str, float], int], None],
        interval: float,
        *,
        disk_path: str | os.PathLike | None = None,
        label: str = "a run",
        gpu: Any = "auto",
    ) -> None:
        self.interval = float(interval)
        self.samples = 0
        self.label = label
        self.disk_path = disk_path
        self.gpu = gpu
        self.log_metrics = log_metrics
        self.reader: SystemReader | None = None
        self.closed = False  # the run has ended: nothing more is read or logged
        self.lock = threading.Lock()  # held while a sample is taken
        self.start = time.monotonic()
        self.tick = 0
        self.due = self.start + min(SETTLE_S, self.interval / 4)  # when the baselines are read
        self.last = self.start

    def __repr__(self) -> str:
        state = "stopped" if self.closed else "sampling"
        return f"Sampler(every {self.interval:g} s, {self.samples} samples, {state})"

    def work(self) -> None:
        """The thread's turn: read the baselines, or take a sample; the next due time. A failure
        ends this run's sampling with one log line; nothing is raised."""
        if not self.lock.acquire(blocking=False):
            return  # stop() has it: the run is ending
        try:
            if self.closed:
                return
            if self.reader is None:
                self.reader = SystemReader(self.disk_path, self.gpu, self.label)
                self.last = time.monotonic()
            else:
                self.take(NVIDIA_SMI_TIMEOUT_S)
            now = time.monotonic()
            self.tick = max(self.tick + 1, math.floor((now - self.start) / self.interval) + 1)
            self.due = self.start + self.tick * self.interval  # missed ticks are skipped
        except BaseException as exc:  # the user's code never sees it
            self.closed = True
            hub.remove(self)
            say_once(
                "sampler",
                f"nb-mlops: system metrics stopped for {self.label}: "
                f"{type(exc).__name__}: {exc} (said once per process)",
            )
        finally:
            self.lock.release()

    def take(self, gpu_timeout: float) -> None:
        assert self.reader is not None
        values = self.reader.read(gpu_timeout)
        self.last = time.monotonic()
        if values and not self.closed:
            self.log_metrics(values, self.samples)
            self.samples += 1

    def stop(self) -> None:
        """End sampling (the run is ending): wait for a sample in progress, take the last one
        when the run has had samples and the last is not fresh, then nothing more. Never raises."""
        hub.remove(self)
        got = self.lock.acquire(timeout=STOP_WAIT_S)
        try:
            if not got:  # a sample stuck in a slow nvidia-smi: stop that call
                reader = self.reader
                if reader is not None:
                    reader.kill()
                got = self.lock.acquire(timeout=STOP_WAIT_S)
            fresh = time.monotonic() - self.last < min(1.0, self.interval / 2)
            if got and not self.closed and self.reader is not None and self.samples and not fresh:
                self.take(STOP_WAIT_S)
        except Exception as exc:  # ending the run matters more than its last sample
            say_once(
                "last sample",
                f"nb-mlops: the last system-metrics sample of {self.label} failed: "
                f"{type(exc).__name__}: {exc} (said once per process)",
            )
        finally:
            self.closed = True
            if got:
                self.lock.release()


class Hub:
    """The process's one sampling thread, started by the first run that samples.

    Waking a thread costs the thread that holds the GIL a hand-over, which measured 0.4-1 ms
    of a run's start here (a thread per run: 0.7 ms, half an empty tracked cell). So a run's
    start only registers it and the thread finds it by itself: while runs sample, it sleeps
    until the next sample is due; for `LINGER_S` after the last one ended it looks for new
    runs every `POLL_S` (notebook cells come in bursts); after that it waits without waking,
    and the next run to sample wakes it (the one start that pays for a hand-over).
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.samplers: list[Sampler] = []
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()
        self.deadline = math.inf  # when the thread next wakes by itself
        self.active_at = time.monotonic()  # when a run last sampled

    def add(self, sampler: Sampler) -> None:
        with self.cond:
            self.samplers.append(sampler)
            thread = self.thread
            if thread is None or not thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=self.main, name="nb-mlops-system-metrics", daemon=True
                )
                self.thread.start()
            elif sampler.due + POLL_S < self.deadline:
                self.cond.notify()

    def remove(self, sampler: Sampler) -> None:
        with self.cond:
            if sampler in self.samplers:
                self.samplers.remove(sampler)

    def active(self) -> list[Sampler]:
        with self.cond:
            return list(self.samplers)

    def main(self) -> None:
        try:
            while True:
                with self.cond:
                    due = self.wait_for_work()
                for sampler in due:
                    sampler.work()
        except BaseException as exc:  # the next run to sample starts a new thread
            say_once("hub", f"nb-mlops: the system-metrics thread stopped: {exc!r}")

    def wait_for_work(self) -> list[Sampler]:
        """The samplers due now, once there are any (called holding the condition)."""
        while True:
            now = time.monotonic()
            due, soonest = [], math.inf
            for sampler in self.samplers:
                if sampler.due <= now:
                    due.append(sampler)
                else:
                    soonest = min(soonest, sampler.due)
            if self.samplers:
                self.active_at = now
            if due:
                self.deadline = now
                return due
            if soonest == math.inf and now - self.active_at < LINGER_S:
                soonest = now + POLL_S
            self.deadline = soonest
            self.cond.wait(None if soonest == math.inf else soonest - now)


hub = Hub()


def start_sampler(
    log_metrics: Callable[[dict[str, float], int], None],
    interval: float,
    *,
    disk_path: str | os.PathLike | None = None,
    label: str = "a run",
) -> Sampler | None:
    """Sample every `interval` seconds into `log_metrics(values, step)` until the returned
    Sampler's `stop()`; None (said once) when the sampling thread cannot be started."""
    sampler = Sampler(log_metrics, interval, disk_path=disk_path, label=label)
    try:
        hub.add(sampler)
    except Exception as exc:  # RuntimeError: can't start new thread
        hub.remove(sampler)
        say_once("start", f"nb-mlops: no system metrics for {label}: {exc}")
        return None
    return sampler
