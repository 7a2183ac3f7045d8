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
#   uts namespaces, as a child of the runner (CLONE_PARENT). The child
#   moves into its own cgroups, builds its own /mnt/data, /tmp, /dev/shm
#   and /proc, becomes uid 1000 in a user namespace of its own with no
#   capabilities, no_new_privs and the runner's seccomp filter, and then
#   is a pre-warmed interpreter as above. The zygote itself never runs
#   anything but this file and the imports of pool.py_preload.
import atexit, builtins, json, os, sys, threading, traceback, types

# a cell's report pipe: "X<status>\n" there once the program is done
_kcr_done = None
# the Python state's hook (lib/runner/pystate_hook.h), compiled once by the zygote
_kcr_hook = None


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


def _kcr_warmup():
    for mod, code in _KCR_WARMUP:
        if mod in sys.modules:
            try:
                exec(compile(code, '<kcr-warmup>', 'exec'),
                     {'__name__': '__kcr_warmup__', '__builtins__': builtins})
            except Exception:
                pass


def _kcr_write_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _kcr_read(n):
    b = b''
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            os._exit(125)
        b += c
    return b


def _kcr_run():
    msg = json.loads(_kcr_read(int(_kcr_read(8))))
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
        exec(hook, {'__name__': 'sitecustomize', '__file__': st[0]})
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
    os._exit(status & 0xff)


# ---- the zygote ------------------------------------------------------------

class _Zygote:
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
    CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
    CLONE_PARENT, CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID = 0x8000, 0x1000000, 0x200000
    MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
    MOVE_MOUNT_F_EMPTY_PATH = 4
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
    PR_SET_SECCOMP, PR_GET_TID_ADDRESS, PR_SET_NO_NEW_PRIVS = 22, 40, 38
    PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
    SECCOMP_MODE_FILTER = 2
    SYS_CLONE3 = 435  # the same number on every architecture

    def __init__(self, sock):
        import ctypes, resource, socket
        self.ct = ctypes
        self.resource = resource
        self.sock = socket.socket(fileno=sock)
        # PyDLL: the GIL stays held across the calls, as os.fork holds it
        self.libc = ctypes.PyDLL('libc.so.6', use_errno=True)
        self.api = ctypes.pythonapi
        for f in ('mount', 'move_mount', 'unshare', 'prctl', 'syscall', 'capset'):
            getattr(self.libc, f).restype = ctypes.c_long
        self.libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        global _kcr_hook
        cfg = json.loads(self.sock.recv(1 << 20))
        if cfg.get('pystate_hook'):
            _kcr_hook = compile(cfg['pystate_hook'], cfg['pystate_path'], 'exec')
        bpf = bytes.fromhex(cfg['seccomp'])

        class Fprog(ctypes.Structure):
            _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
        self.bpf = ctypes.create_string_buffer(bpf, len(bpf))
        self.fprog = Fprog(len(bpf) // 8, ctypes.addressof(self.bpf))

        class CloneArgs(ctypes.Structure):
            _fields_ = [(n, ctypes.c_uint64) for n in (
                'flags', 'pidfd', 'child_tid', 'parent_tid', 'exit_signal',
                'stack', 'stack_size', 'tls', 'set_tid', 'set_tid_size', 'cgroup')]
        self.CloneArgs = CloneArgs
        # where glibc keeps this thread's tid: the child gets its own
        # written there, as glibc's fork() does (raise() and mutexes use it)
        tid = ctypes.c_void_p()
        self.check('prctl(PR_GET_TID_ADDRESS)',
                   self.libc.prctl(self.PR_GET_TID_ADDRESS, ctypes.byref(tid), 0, 0, 0))
        self.tid_addr = tid.value

    def check(self, what, r):
        if r < 0:
            e = self.ct.get_errno()
            raise OSError(e, '%s: %s' % (what, os.strerror(e)))
        return r

    def serve(self):
        import gc, socket
        _kcr_preload()
        _kcr_warmup()
        threads = len(os.listdir('/proc/self/task'))
        if threads != 1:
            self.sock.send(json.dumps({'error': 'zygote has %d threads after '
                                       'its imports' % threads}).encode())
            os._exit(1)
        # what was imported stays out of the collector's way: the cells
        # then share those pages instead of copying them on every collection
        gc.collect()
        gc.freeze()
        sys.stdout.flush()
        sys.stderr.flush()
        self.sock.send(b'{"ready": true}')
        while True:
            msg, fds, _, _ = socket.recv_fds(self.sock, 65536, 16)
            if not msg:
                os._exit(0)
            try:
                reply = {'pid': self.spawn(json.loads(msg), fds)}
            except Exception as e:
                reply = {'error': str(e)}
            for fd in fds:
                os.close(fd)
            self.sock.send(json.dumps(reply).encode())

    def spawn(self, req, fds):
        ct, z = self.ct, _Zygote
        args = self.CloneArgs(
            flags=(z.CLONE_PARENT | z.CLONE_NEWPID | z.CLONE_NEWNS | z.CLONE_NEWNET |
                   z.CLONE_NEWIPC | z.CLONE_NEWUTS | z.CLONE_CHILD_SETTID |
                   z.CLONE_CHILD_CLEARTID),
            # CLONE_PARENT: the exit signal is the zygote's own, SIGCHLD
            child_tid=self.tid_addr, exit_signal=0)
        self.api.PyOS_BeforeFork()
        pid = self.libc.syscall(z.SYS_CLONE3, ct.byref(args), ct.sizeof(args))
        err = ct.get_errno()
        if pid == 0:
            self.api.PyOS_AfterFork_Child()
            self.cell(req, fds)  # does not return
        self.api.PyOS_AfterFork_Parent()
        if pid < 0:
            raise OSError(err, 'clone3: %s' % os.strerror(err))
        return pid

    def cell(self, req, fds):
        global _kcr_done
        report = fds[3]
        try:
            self.sock.close()
            self.setup(req, fds)
            os.set_inheritable(report, False)
            _kcr_warmup()
        except BaseException as e:
            try:
                os.write(report, ('%s' % e).encode())
            finally:
                os._exit(127)
        os.write(report, b'R')
        _kcr_done = report
        try:
            _kcr_run()
        except BaseException:
            traceback.print_exc()
            _kcr_exit(1)
        finally:
            os._exit(125)  # never back into the zygote's loop

    def mount(self, src, dst, fstype, flags, data=None):
        enc = lambda s: s.encode() if isinstance(s, str) else s
        self.check('mount %s' % dst, self.libc.mount(enc(src), enc(dst), enc(fstype),
                                                     flags, enc(data)))

    def setup(self, req, fds):
        resource = self.resource
        z = _Zygote
        for fd in fds[6:]:  # the cell's cgroups (v1 "tasks", v2 "cgroup.procs")
            os.write(fd, b'0')
        # its own data and tmp: tmpfs the runner made for this cell alone
        # and mounted nowhere
        for fd, where in ((fds[4], b'/mnt/data'), (fds[5], b'/tmp')):
            self.check('move_mount %s' % where.decode(),
                       self.libc.move_mount(fd, b'', -100, where, z.MOVE_MOUNT_F_EMPTY_PATH))
        self.mount('tmpfs', '/dev/shm', 'tmpfs', z.MS_NOSUID | z.MS_NODEV,
                   'mode=1777,size=%dm' % req['shm_mb'])
        self.mount('proc', '/proc', 'proc', z.MS_NOSUID | z.MS_NODEV | z.MS_NOEXEC)
        self.identity(req['uid'], req['gid'])
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        for name, key in (('RLIMIT_NOFILE', 'nofile'), ('RLIMIT_FSIZE', 'fsize')):
            if req.get(key):
                resource.setrlimit(getattr(resource, name), (req[key], req[key]))
        os.setsid()
        _kcr_write_file('/proc/self/oom_score_adj', '1000')
        os.chdir('/mnt/data')
        for i in range(3):
            os.dup2(fds[i], i)
        keep = sorted(set(range(3)) | {fds[3]})
        for lo, hi in zip(keep, keep[1:] + [1 << 20]):
            os.closerange(lo + 1, hi)
        self.check('prctl(PR_SET_NO_NEW_PRIVS)',
                   self.libc.prctl(z.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        self.check('prctl(PR_SET_PDEATHSIG)', self.libc.prctl(z.PR_SET_PDEATHSIG, 9, 0, 0, 0))
        # a program's random numbers are its own (random reseeds itself
        # through os.register_at_fork)
        if 'numpy' in sys.modules:
            sys.modules['numpy'].random.seed()
        self.check('seccomp', self.libc.prctl(z.PR_SET_SECCOMP, z.SECCOMP_MODE_FILTER,
                                              self.ct.byref(self.fprog), 0, 0))

    # uid 1000 without capabilities, then a user namespace of its own in
    # which only 1000 is mapped; its capabilities there go too.
    def identity(self, uid, gid):
        ct, z = self.ct, _Zygote
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # the id change made /proc/self root's; the maps below are ours
        self.check('prctl(PR_SET_DUMPABLE)', self.libc.prctl(z.PR_SET_DUMPABLE, 1, 0, 0, 0))
        self.check('unshare(CLONE_NEWUSER)', self.libc.unshare(z.CLONE_NEWUSER))
        for f, v in (('setgroups', 'deny'), ('uid_map', '%d %d 1' % (uid, uid)),
                     ('gid_map', '%d %d 1' % (gid, gid))):
            _kcr_write_file('/proc/self/' + f, v)
        for cap in range(64):
            if self.libc.prctl(z.PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 and ct.get_errno() != 22:
                self.check('prctl(PR_CAPBSET_DROP)', -1)
        self.libc.prctl(z.PR_CAP_AMBIENT, z.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        hdr = (ct.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = (ct.c_uint32 * 6)()
        self.check('capset', self.libc.capset(hdr, data))


if 'KCR_ZYGOTE' in os.environ:
    _Zygote(int(os.environ.pop('KCR_ZYGOTE'))).serve()
else:
    _kcr_preload()
    _kcr_run()
