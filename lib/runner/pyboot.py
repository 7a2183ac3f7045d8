# The Python that kcr-runner starts ahead of executions (lib/runner/proc.c and
# lib/runner/cell.c embed this file; it runs as `python3 -c`). Two uses:
#
# - a pre-warmed interpreter: the usual libraries imported, then it reads
#   one message on stdin (an 8-digit length, then JSON {"argv": [...]})
#   and runs argv[0] as `python3 file` would. Set up like any program
#   before it starts (uid, rlimits, no_new_privs, seccomp).
#
# - a zygote (KCR_ZYGOTE set): the fork-server behind warm Python cells.
#   It imports the libraries once, then on each request of the runner on
#   its control socket clones a child into fresh pid, mount, net, ipc and
#   uts namespaces, as a child of the runner (CLONE_PARENT), through
#   kcr_cell_clone() of lib/runner/cell_setup.c. The child, in that C
#   code before any Python, moves into its own cgroups, builds its own /mnt/data, /tmp, /dev/shm
#   and /proc, becomes uid 1000 in a user namespace of its own with no
#   capabilities, no_new_privs and the runner's seccomp filter, and then
#   is a pre-warmed interpreter as above. The zygote itself never runs
#   anything but this file and the imports of pool.py_preload.
import atexit, builtins, json, os, sys, threading, traceback, types

# a cell's report pipe: "X<status>\n" there once the program is done
_kcr_done = None
# the Python state's hook and its work (lib/runner/pystate_hook.h), compiled
# once by the zygote: kcr-state.py alone took ~4 ms to compile in each cell
_kcr_hook = None
_kcr_impl = None
# the zygote's probe (_Zygote.learn): called as the program's end
_kcr_at_end = None


def _kcr_preload():
    for m in os.environ.pop('KCR_PRELOAD', '').split(','):
        try:
            m and __import__(m)
        except Exception:
            pass
    if 'matplotlib' in sys.modules:
        try:
            sys.modules['matplotlib'].use('Agg')
        except Exception:
            pass


# What a program typically does first with a preloaded library. The zygote
# runs it once (lazy initialisations: pandas' and matplotlib's first
# DataFrame or figure cost ~15 ms more than the next), and each cell of a
# preloading zygote runs it again while it waits in the pool: a cell
# shares the zygote's pages until it writes them, and Python writes every
# object it touches (reference counts), so the first DataFrame op of a cell
# took ~600 copy-on-write faults (~18 ms here) and the first saved figure
# ~4100 (~100 ms). Faulted in while the cell waits, they are off the
# request path. Nothing is printed; a failure is ignored.
_KCR_WARMUP = (
    ('pandas', "import pandas as pd\npd.DataFrame({'a': [1, 2]}).a.sum()\n"
               "pd.DataFrame({'a': [1.5], 'b': ['x']}).describe()"),
    ('numpy', "import numpy as np\nnp.arange(100).reshape(10, 10).sum()"),
    ('matplotlib.pyplot', "import io\nimport matplotlib.pyplot as plt\n"
                          "plt.plot([1, 2, 3])\nplt.title('t')\n"
                          "plt.savefig(io.BytesIO(), format='png')\nplt.close('all')"),
)


def _kcr_warmup(zygote=False):
    for mod, code in _KCR_WARMUP:
        # a figure copies ~4100 pages: in every cell that is ~100 ms of CPU,
        # more than most programs that import pandas spend; the zygote's
        # lazy set-up is kept, the copies are left to programs that plot
        if mod in sys.modules and (zygote or mod != 'matplotlib.pyplot'):
            try:
                exec(compile(code, '<kcr-warmup>', 'exec'),
                     {'__name__': '__kcr_warmup__', '__builtins__': builtins})
            except Exception:
                pass
    # matplotlib keeps each font it drew with open (FT2Font reads its file
    # lazily); a cell closes every descriptor it did not get, so a font
    # the zygote opened would be read through a closed file there
    fm = sys.modules.get('matplotlib.font_manager')
    if zygote and fm and hasattr(fm, '_get_font'):
        fm._get_font.cache_clear()


def _kcr_read(n):
    b = b''
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            os._exit(125)
        b += c
    return b


# __main__ for the program at msg's argv, with the state's hook run in it.
def _kcr_main(msg):
    sys.argv = msg['argv']
    path = sys.argv[0]
    sys.path[0] = os.path.dirname(path)
    main = types.ModuleType('__main__')
    main.__file__ = path
    main.__builtins__ = builtins
    sys.modules['__main__'] = main
    # the Python state's hook (lib/runner/pystate_hook.h), as python3 would have
    # imported it at start-up
    st = msg.get('pystate')
    if st:
        os.environ['KCR_PYSTATE'] = str(st[1])
        hook = _kcr_hook
        if hook is None or hook.co_filename != st[0]:
            with open(st[0], 'rb') as f:
                hook = compile(f.read(), st[0], 'exec')
        exec(hook, {'__name__': 'sitecustomize', '__file__': st[0], '_kcr_impl': _kcr_impl})
    return main


def _kcr_run():
    msg = json.loads(_kcr_read(int(_kcr_read(8))))
    main = _kcr_main(msg)
    path = main.__file__
    status = 0
    try:
        with open(path, 'rb') as f:
            code = compile(f.read(), path, 'exec')
    except SyntaxError as e:
        # as python3 shows it: the line and the caret, no traceback
        traceback.print_exception(type(e), e, None)
        _kcr_exit(1)
    try:
        exec(code, main.__dict__)
    except SystemExit as e:
        status = e.code
    except BaseException as e:
        tb = e.__traceback__.tb_next
        sys.last_type, sys.last_value, sys.last_traceback = type(e), e, tb
        traceback.print_exception(type(e), e, tb)
        status = 1
    _kcr_exit(status)


# What Python's own exit does for the program (threads, atexit, the
# SystemExit code), without tearing down the preloaded libraries: that
# alone takes ~70 ms with pandas imported.
def _kcr_exit(status):
    if status is None:
        status = 0
    elif not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    for f in (threading._shutdown, atexit._run_exitfuncs):
        try:
            f()
        except BaseException:
            pass
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    if _kcr_done is not None:

        # the output is complete; the runner takes the status from the
        # kernel, never from this pipe (the program could write it too)
        for fd in (1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.write(_kcr_done, b'X%d\n' % (status & 0xff))
        except OSError:
            pass
    if _kcr_at_end is not None:
        _kcr_at_end()
    os._exit(status & 0xff)


# The pages of maps ([lo, hi] ranges) present and mapped here alone: those
# this process wrote since it was forked. [address, length, ...].
def _kcr_written(maps):
    out = []
    with open('/proc/self/pagemap', 'rb', buffering=0) as pm:
        for lo, hi in maps:
            pm.seek(lo // 4096 * 8)
            ents = memoryview(pm.read((hi - lo) // 4096 * 8)).cast('Q')
            run = None
            for i, e in enumerate(ents):
                if (e >> 56) & 0x81 == 0x81:
                    if run is None:
                        run = i
                elif run is not None:
                    out += [lo + run * 4096, (i - run) * 4096]
                    run = None
            if run is not None:
                out += [lo + run * 4096, (len(ents) - run) * 4096]
    return out


# ---- the zygote ------------------------------------------------------------

class _Zygote:
    PR_GET_TID_ADDRESS = 40
    MADV_POPULATE_WRITE = 23

    def __init__(self, ctl, setup_so):
        import ctypes
        self.ct = ctypes
        self.ctl = ctl
        # the loop and the cells' set-up, in C (lib/runner/cell_setup.c),
        # from the runner's sealed memfd. PyDLL: the GIL stays held across
        # the call, as os.fork holds it
        self.cell_so = ctypes.PyDLL('/proc/self/fd/%d' % setup_so)
        os.close(setup_so)
        serve = self.cell_so.kcr_cell_serve
        serve.restype = ctypes.c_int
        serve.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64,
                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64]
        self.api = ctypes.pythonapi
        global _kcr_hook, _kcr_impl
        cfg = json.loads(os.read(ctl, 1 << 20))
        if cfg.get('pystate_hook'):
            _kcr_hook = compile(cfg['pystate_hook'], cfg['pystate_path'], 'exec')
        if cfg.get('pystate_impl'):
            _kcr_impl = compile(cfg['pystate_impl'], cfg['pystate_impl_path'], 'exec')
        bpf = bytes.fromhex(cfg['seccomp'])
        self.bpf = ctypes.create_string_buffer(bpf, len(bpf))
        # where glibc keeps this thread's tid: the child gets its own
        # written there, as glibc's fork() does (raise() and mutexes use it)
        libc = self.libc = ctypes.CDLL('libc.so.6', use_errno=True)
        # set by serve(): each cell has the pages it will write copied as it
        # is made, and needs no warm-up of its own to copy them
        self.copied = False
        tid = ctypes.c_void_p()
        if libc.prctl(self.PR_GET_TID_ADDRESS, ctypes.byref(tid), 0, 0, 0) < 0:
            e = ctypes.get_errno()
            raise OSError(e, 'prctl(PR_GET_TID_ADDRESS): %s' % os.strerror(e))
        self.tid_addr = tid.value

    def serve(self):
        import gc
        ct = self.ct
        _kcr_preload()
        _kcr_warmup(zygote=True)
        threads = len(os.listdir('/proc/self/task'))
        if threads != 1:
            os.write(self.ctl, json.dumps({'error': 'zygote has %d threads after '
                                           'its imports' % threads}).encode())
            os._exit(1)
        hooks = [ct.cast(getattr(self.api, f), ct.c_void_p).value
                 for f in ('PyOS_BeforeFork', 'PyOS_AfterFork_Parent')]
        self.rehearse()
        # what was imported stays out of the collector's way: the cells
        # then share those pages instead of copying them on every collection
        gc.collect()
        gc.freeze()
        sys.stdout.flush()
        sys.stderr.flush()
        pages = self.learn()
        self.copied = bool(pages) and self.libc.madvise(
            ct.c_void_p(pages[0]), ct.c_size_t(4096), self.MADV_POPULATE_WRITE) == 0
        if not self.copied:
            pages = []  # a kernel before 5.14: the cells warm up in Python
        populate = (ct.c_uint64 * max(len(pages), 1))(*pages)
        os.write(self.ctl, json.dumps({'ready': True, 'populate_pages':
                                       sum(pages[1::2]) // 4096}).encode())
        r = self.cell_so.kcr_cell_serve(self.ctl, self.tid_addr, ct.addressof(self.bpf),
                                        len(self.bpf) // 8, *hooks, ct.addressof(populate),
                                        len(pages) // 2)
        if r != 0:
            os._exit(0 if r == 1 else 1)
        # a cell, set up: the fork bookkeeping (and the at-fork hooks of
        # what was imported) runs as the program's user, filtered
        self.api.PyOS_AfterFork_Child()
        self.cell(3)  # does not return

    # Which of the zygote's pages a cell writes from its clone to its
    # program's end, learned once by a probe: a child that does what a cell
    # does (cell(), _kcr_run() on a program that prints) and then reads
    # /proc/self/pagemap, where a page it wrote is mapped there alone (bit
    # 56). Each cell then has them copied as it is made, while it waits
    # (MADV_POPULATE_WRITE in kcr_cell_serve): one system call per range
    # instead of one fault per page on the request's path, and a fault
    # costs ~3 times the copy here (15 against 4.6 us a page). Returns
    # [address, length, ...]; none if the probe fails, which only loses the
    # speed.
    def learn(self):
        maps = []
        with open('/proc/self/maps') as f:
            for line in f:
                rng, perms = line.split()[:2]
                if perms == 'rw-p':
                    maps.append([int(x, 16) for x in rng.split('-')])
        code_r, code_w = os.pipe()
        msg_r, msg_w = os.pipe()
        out_r, out_w = os.pipe()
        null = os.open('/dev/null', os.O_WRONLY)
        code = b"print('ok')\n"
        # with the state's hook, as a session's program has it; a program
        # without globals of its own saves nothing
        st = None if _kcr_hook is None else [_kcr_hook.co_filename, 1 << 20]
        msg = json.dumps({'argv': ['/proc/self/fd/%d' % code_r], 'pystate': st})
        os.write(code_w, code)
        os.write(msg_w, b'%08d%s' % (len(msg), msg.encode()))
        for fd in (code_w, msg_w):
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(out_r)
                os.dup2(msg_r, 0)
                os.dup2(null, 1)
                os.dup2(null, 2)
                global _kcr_at_end
                _kcr_at_end = lambda: os.write(out_w, json.dumps(_kcr_written(maps)).encode())
                self.cell(None)
            finally:
                os._exit(125)
        for fd in (code_r, msg_r, out_w, null):
            os.close(fd)
        data = b''
        while True:
            chunk = os.read(out_r, 1 << 16)
            if not chunk:
                break
            data += chunk
        os.close(out_r)
        os.waitpid(pid, 0)
        try:
            return json.loads(data)
        except ValueError:
            return []

    # What every cell runs first, run here a few times: the interpreter
    # specializes that code (writing to it) in the zygote once, not in
    # each cell, where every page written is a copy. Harmless in the
    # zygote: one thread, as after a fork.
    def rehearse(self):
        for _ in range(10):
            threading._after_fork()
            if 'random' in sys.modules:
                sys.modules['random'].seed()
            json.loads('{"argv": ["/tmp/.kcr/main.py"], "pystate": null}')

    # What _kcr_run does before and after the program, done once in a
    # preloaded cell while it waits, with nothing of it left: each page that
    # path writes (reference counts, dicts, the environment; pandas and
    # pickle to save a DataFrame) is copied here and not on the request
    # path, ~250 copy-on-write faults. A bare cell does not: its program
    # then runs ~5 ms sooner, but the copies cost more CPU than they save
    # (kcr bench py at 8 clients: 51.6 and 48.8 exec/s, against 57.1 and 53.0)
    @staticmethod
    def prefault():
        saved = (list(sys.argv), sys.path[0], sys.modules['__main__'],
                 os.environ.get('KCR_PYSTATE'))
        try:
            msg = json.loads('{"argv": ["/tmp/.kcr/code.py"], "pystate": null}')
            if _kcr_hook is not None:
                msg['pystate'] = [_kcr_hook.co_filename, 0]  # 0: saves nothing
            main = _kcr_main(msg)
            exec(compile(b'pass\n', main.__file__, 'exec'), main.__dict__)
            sys.stdout.write('')
            if _kcr_impl is not None:
                impl = {'__name__': 'kcr_state'}
                exec(_kcr_impl, impl)
                df = sys.modules['pandas'].DataFrame({'a': [1.5], 'b': ['x']})
                impl['dumps'](main.__dict__, {'df': df}, ('plain',))
        except Exception:
            pass  # only a cost moved, never a cell lost
        finally:
            sys.argv[:] = saved[0]
            sys.path[0] = saved[1]
            sys.modules['__main__'] = saved[2]
            if saved[3] is None:
                os.environ.pop('KCR_PYSTATE', None)
            else:
                os.environ['KCR_PYSTATE'] = saved[3]

    def cell(self, report):
        global _kcr_done
        try:
            # a program's random numbers are its own (random reseeds
            # itself through os.register_at_fork)
            if 'numpy' in sys.modules:
                sys.modules['numpy'].random.seed()
            # what the warm-up and prefault() would copy was copied in C
            # (learn(), which runs them in its probe)
            if not self.copied:
                _kcr_warmup()
                if 'pandas' in sys.modules:
                    self.prefault()
        except BaseException as e:
            try:
                os.write(report, ('%s' % e).encode())
            finally:
                os._exit(127)
        if report is not None:  # None: the zygote's probe (learn)
            os.write(report, b'R')
        _kcr_done = report
        try:
            _kcr_run()
        except BaseException:
            traceback.print_exc()
            _kcr_exit(1)
        finally:
            os._exit(125)  # never back into the zygote's loop


if 'KCR_ZYGOTE' in os.environ:
    _Zygote(int(os.environ.pop('KCR_ZYGOTE')), int(os.environ.pop('KCR_CELL_SO'))).serve()
else:
    _kcr_preload()
    _kcr_run()
