/*
 * execbox-launcher: the first process of every execbox sandbox.
 *
 * It speaks the launcher protocol whose other half, and whose one
 * description, is src/sandbox/launcher.rs. In short: every byte on the
 * container's stdin and stdout is a frame (kind: u8, length: u32 big-endian,
 * payload). The program's stdout and stderr are pipes that only this process
 * reads; it forwards them as output frames, so nothing the program prints
 * can be taken for a control message. The program cannot reach the
 * container's own stdio or signal this process either: it runs as a uid of
 * its own (--as), with no capabilities, while this process runs as
 * LAUNCHER_ID and is not dumpable (its /proc/PID entries are out of the
 * program's reach, under gVisor too, which ignores dumpability), and it is
 * the container's PID 1 (no other process holds the container's stdio).
 *
 *   execbox-launcher --as UID:GID
 *                    [--prestart FILE] [--report FILE | --report-stdout FILE] [--export]
 *                    [--bench FILE] [--cases] [--compile COMPILE-ARGV... --]
 *                    RUN-ARGV... [--then BENCH-ARGV...]
 *
 * Host to launcher: LAUNCH (a warm container's session: the command line
 * this launcher goes on with instead of its own; before anything else),
 * TREE (a /work another sandbox compiled, as --export sent it; before
 * START), FILE (written into /work), START (every file is there),
 * GO (the run stage's limits are in force), STDIN (bytes for the program),
 * EOF (end of the program's stdin; with --cases: no more cases), CASE (with
 * --cases: run the program once more, with these limits, arguments, files
 * and stdin).
 * Launcher to host: STDOUT/STDERR (the program's bytes), COMPILED (the
 * compiler's status), EXITED (the program's status; last frame of a run),
 * BLOCK (a named file, e.g. a test report), FATAL (the launcher failed),
 * CASE_DONE (a case's status).
 *
 * With --export (and --compile), a compiler that succeeded is the end: /work
 * goes to the host as the BLOCK "execbox.work" (what TREE takes), then
 * EXITED with the compiler's status. So a sandbox whose limits cannot change
 * between the stages (gVisor's) compiles in one sandbox and runs in another.
 *
 * With --cases the program runs once per CASE, each time as a fresh process
 * in a /work restored to what it was after compiling (kept in this
 * process's memory, which the program cannot read), with /tmp and /dev/shm
 * emptied and every process of the previous case killed; a case that runs
 * over its wall time, CPU time or output bytes is killed, and its status
 * says which.
 *
 * Statuses carry the exit code or signal and what the kernel measured:
 * CPU time (wait4's rusage of the process and everything it waited for),
 * wall time, peak resident memory and the cgroup's OOM kill count.
 *
 * Built statically from Debian's gcc by images/launcher/Dockerfile.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Host to launcher. */
enum { H_FILE = 1, H_START = 2, H_GO = 3, H_STDIN = 4, H_EOF = 5, H_CASE = 6, H_LAUNCH = 7, H_TREE = 8 };
/* Launcher to host. */
enum { L_STDOUT = 1, L_STDERR = 2, L_COMPILED = 3, L_EXITED = 4, L_BLOCK = 5, L_FATAL = 6, L_CASE_DONE = 7 };

#define MAX_FRAME (64u << 20)
#define CHUNK 65536
/* Most bytes read from a pipe after its writer exited (a pipe holds at most
 * 1 MiB; more means a leftover process is still writing). */
#define DRAIN_LIMIT (2u << 20)
/* Stop reading the host's frames while this much stdin waits. */
#define STDIN_HIGH (1u << 20)

/* ---------------------------------------------------------------- output */

static void write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* The host is gone: nothing left to do. */
            _exit(125);
        }
        p += n;
        len -= (size_t)n;
    }
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t get32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put64(unsigned char *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* --------------------------------------------------------------- buffers */

struct buf {
    unsigned char *data;
    size_t off, len, cap;
};

static void fatal(const char *fmt, ...);
static int safe_name(const char *name, size_t len);
static void parse_args(int argc, char **argv);

static void buf_add(struct buf *b, const void *data, size_t len) {
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + len > b->cap) {
        if (b->off > 0) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + len > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + len)
                cap *= 2;
            b->data = realloc(b->data, cap);
            if (!b->data)
                fatal("out of memory");
            b->cap = cap;
        }
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static size_t buf_size(const struct buf *b) { return b->len - b->off; }

/* Frames for the host are gathered in one buffer and written in as few
 * writes as possible: program output waits at most FLUSH_NS (or until
 * FLUSH_BYTES are pending), and consecutive output of one stream shares a
 * frame, so a program printing line by line costs a frame per batch, not a
 * frame and a wake-up per line. Control frames go out at once, after
 * everything before them. */
#define FLUSH_BYTES (64u << 10)
#define FLUSH_NS 1000000L
#define MERGE_MAX (1u << 20)
/* How often a CPU-time limit is checked. */
#define CPU_CHECK_NS 10000000L

static struct {
    struct buf pending;
    size_t last;          /* offset of the last output frame's header */
    int last_kind;        /* its kind; 0: the last frame cannot grow */
    struct timespec since; /* when the oldest pending byte was framed */
} out;

static void flush_out(void) {
    if (out.pending.len > 0)
        write_all(1, out.pending.data, out.pending.len);
    out.pending.len = 0;
    out.pending.off = 0;
    out.last_kind = 0;
}

/* One frame (payload in up to two parts). */
static void send_frame(int kind, const void *a, size_t alen, const void *b, size_t blen) {
    int output = kind == L_STDOUT || kind == L_STDERR;
    if (out.pending.len == 0)
        clock_gettime(CLOCK_MONOTONIC, &out.since);
    if (output && out.last_kind == kind && !blen) {
        uint32_t len = get32(out.pending.data + out.last + 1);
        if (len + alen <= MERGE_MAX) {
            put32(out.pending.data + out.last + 1, len + (uint32_t)alen);
            buf_add(&out.pending, a, alen);
            goto sent;
        }
    }
    unsigned char head[5];
    head[0] = (unsigned char)kind;
    put32(head + 1, (uint32_t)(alen + blen));
    out.last = out.pending.len;
    out.last_kind = output ? kind : 0;
    buf_add(&out.pending, head, 5);
    if (alen)
        buf_add(&out.pending, a, alen);
    if (blen)
        buf_add(&out.pending, b, blen);
sent:
    if (!output || out.pending.len >= FLUSH_BYTES)
        flush_out();
}

/* How long pending output may still wait (NULL: nothing is pending). */
static struct timespec *flush_timeout(struct timespec *ts) {
    if (out.pending.len == 0)
        return NULL;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited = (now.tv_sec - out.since.tv_sec) * 1000000000L + (now.tv_nsec - out.since.tv_nsec);
    long left = FLUSH_NS - waited;
    if (left < 0)
        left = 0;
    ts->tv_sec = 0;
    ts->tv_nsec = left;
    return ts;
}

static void fatal(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_frame(L_FATAL, msg, strlen(msg), NULL, 0);
    _exit(125);
}

/* ------------------------------------------------------------- identity */

/* The launcher's own uid and gid once it started: neither root nor the
 * program's (the sandbox policy never gives the program this one). */
#define LAUNCHER_ID 65533

/* The program's uid and gid (--as). */
static uid_t program_uid;
static gid_t program_gid;

static int set_caps(uint64_t permitted, uint64_t effective) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)effective, .permitted = (uint32_t)permitted, .inheritable = 0},
        {.effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32), .inheritable = 0},
    };
    return (int)syscall(SYS_capset, &h, d);
}

static uint64_t permitted_caps(void) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        fatal("capget: %s", strerror(errno));
    return (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
}

/* The container starts this process as root with the few capabilities the
 * sandbox policy adds (to chown the files it writes, clean up the program's
 * files between cases, kill the program's processes and start them as the
 * program's uid). It becomes LAUNCHER_ID keeping just those, before it
 * reads a byte from the host. */
static void become_launcher(void) {
    if (getuid() != 0 || geteuid() != 0)
        fatal("the launcher must start as root (uid 0, with the sandbox policy's capabilities) to keep the program "
              "out of its reach; it started as uid %d",
              (int)geteuid());
    uint64_t kept = permitted_caps();
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
        setresgid(LAUNCHER_ID, LAUNCHER_ID, LAUNCHER_ID) < 0 || setresuid(LAUNCHER_ID, LAUNCHER_ID, LAUNCHER_ID) < 0 ||
        set_caps(kept, kept) < 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        fatal("cannot become the launcher's own user: %s", strerror(errno));
    /* Not dumpable (a uid change resets it): nobody but root could open
     * this process's /proc/PID entries or ptrace it. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* In a child, before it runs anything: the program's uid and gid, no
 * capabilities, none to gain (an empty bounding set). Returns -1 with
 * errno on failure. */
static int become_program(void) {
    for (int c = 0; c < 64; c++) {
        int has = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (has < 0)
            break; /* past the kernel's last capability */
        if (has && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return -1;
    }
    if (setresgid(program_gid, program_gid, program_gid) < 0 ||
        setresuid(program_uid, program_uid, program_uid) < 0 || set_caps(0, 0) < 0)
        return -1;
    return 0;
}

/* Hands a file the launcher created to the program. */
static void give(int fd, const char *what) {
    if (fchown(fd, program_uid, program_gid) < 0)
        fatal("cannot give %s to the program: %s", what, strerror(errno));
}

/* --as UID:GID: numbers, neither root's nor the launcher's. */
static void parse_identity(const char *s) {
    unsigned long u, g;
    char *end;
    errno = 0;
    u = strtoul(s, &end, 10);
    if (errno || end == s || *end != ':')
        fatal("--as wants UID:GID, got %s", s);
    const char *gs = end + 1;
    g = strtoul(gs, &end, 10);
    if (errno || end == gs || *end || u == 0 || g == 0 || u == LAUNCHER_ID || u > 0xfffffffeul || g > 0xfffffffeul)
        fatal("--as wants UID:GID, neither 0 nor %d, got %s", LAUNCHER_ID, s);
    program_uid = (uid_t)u;
    program_gid = (gid_t)g;
}

/* ------------------------------------------------------------ processes */

/* A process the launcher started and whose output it forwards. */
struct proc {
    pid_t pid;
    int out, err;       /* pipes from its stdout and stderr, -1 once closed */
    int in;             /* pipe to its stdin, -1 if none or closed */
    int exited;
    int status;         /* from wait4 */
    struct rusage ru;
    struct timespec start, end;
    long long oom_before;
    uint64_t cpu_limit_ns;  /* 0: none */
    long long cpu_base_ns;  /* the tree's CPU time when the limit started counting */
    int cpu_exceeded;       /* killed for its CPU time */
    int wall_exceeded;      /* (cases) killed for its wall time */
    int output_exceeded;    /* (cases) killed for its output bytes */
};

/* What the launcher does now. */
enum phase { WAIT_FILES, COMPILING, WAIT_GO, RUNNING, VALIDATING, BENCHING, CASE_WAIT, CASE_RUNNING, DONE };

static struct {
    /* Command line. */
    char *prestart;
    char *report;
    int report_stdout;
    char *bench_file;
    char **compile;  /* NULL-terminated, or NULL */
    char **run;      /* NULL-terminated */
    char **then;     /* NULL-terminated, or NULL */

    enum phase phase;
    struct proc child;   /* the current process (compiler, program, runner) */
    int have_child;
    int sigfd;
    struct buf host;     /* unparsed bytes from the host */
    int host_open;
    struct buf stdin_buf; /* the program's stdin, not yet written */
    int stdin_eof;
    /* Prestart: the FIFO the interpreter reads its script from. */
    int fifo;
    struct buf fifo_buf;
    int fifo_ready;      /* the script's content is queued */
    int fifo_died;       /* the interpreter died before opening the FIFO */
    int framed;          /* a frame came from the host (LAUNCH must be first) */
    int last_status;
    /* CPU-time limits (ms; 0: none) of the compile and run stages, from START. */
    uint64_t cpu_limit_ms[2];
    /* --cases: the current case's wall deadline and output bytes left, and
     * whether the host said there are no more cases. */
    int cases;
    int export;          /* --export: compile, send /work, end */
    struct timespec case_deadline;
    uint64_t case_out_left;
    int cases_over;
} L = {.sigfd = -1, .host_open = 1, .fifo = -1};

/* Kills the process and everything else in the sandbox (as PID 1), or
 * just the process (outside a container). */
static void kill_tree(struct proc *p) {
    if (getpid() == 1)
        kill(-1, SIGKILL);
    else if (!p->exited)
        kill(p->pid, SIGKILL);
}

static long long read_number(const char *path, const char *key) {
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[128];
    long long n = -1;
    while (fgets(line, sizeof line, f)) {
        if (!key) {
            if (sscanf(line, "%lld", &n) == 1)
                break;
        } else if (strncmp(line, key, strlen(key)) == 0 && sscanf(line + strlen(key), " %lld", &n) == 1) {
            break;
        }
    }
    fclose(f);
    return n;
}

/* CPU time (ns) the container's processes used, as the cgroup counts it
 * (it includes processes the program started and no longer waits for),
 * minus the launcher's own; -1 if the cgroup cannot be read. */
static long long tree_cpu_ns(void) {
    long long ns;
    long long usec = read_number("/sys/fs/cgroup/cpu.stat", "usage_usec");
    if (usec >= 0)
        ns = usec * 1000;
    else if ((ns = read_number("/sys/fs/cgroup/cpuacct/cpuacct.usage", NULL)) < 0)
        return -1;
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    ns -= (long long)self.ru_utime.tv_sec * 1000000000LL + (long long)self.ru_utime.tv_usec * 1000LL;
    ns -= (long long)self.ru_stime.tv_sec * 1000000000LL + (long long)self.ru_stime.tv_usec * 1000LL;
    return ns;
}

/* Where the cgroup cannot be read: the process and the children it waited
 * for, from /proc. */
static long long proc_cpu_ns(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut, st;
    long long cut, cst;
    /* fields 14-17 (utime stime cutime cstime), counted after the comm's ')' */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ut, &st, &cut, &cst) != 4)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (long long)((ut + st + (unsigned long long)cut + (unsigned long long)cst) * (1000000000ULL / (unsigned long long)hz));
}

/* Where no cgroup can be read inside (gVisor has none) and this process is
 * the sandbox's PID 1: every other process, from /proc (each with the
 * children it waited for), and the children this process reaped. A
 * cumulative count, like the cgroup's: limits count its growth. */
static long long sandbox_cpu_ns(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        long long ns = proc_cpu_ns((pid_t)pid);
        if (ns > 0)
            total += ns;
    }
    closedir(d);
    struct rusage reaped;
    getrusage(RUSAGE_CHILDREN, &reaped);
    total += (long long)reaped.ru_utime.tv_sec * 1000000000LL + (long long)reaped.ru_utime.tv_usec * 1000LL;
    total += (long long)reaped.ru_stime.tv_sec * 1000000000LL + (long long)reaped.ru_stime.tv_usec * 1000LL;
    return total;
}

static long long cpu_used_ns(const struct proc *p) {
    long long t = tree_cpu_ns();
    if (t >= 0)
        return t;
    return getpid() == 1 ? sandbox_cpu_ns() : proc_cpu_ns(p->pid);
}

/* Starts counting `p`'s CPU time against `limit_ms` (0: none); the kernel's
 * RLIMIT_CPU (whole seconds, per process) stands behind the count. */
static void limit_cpu(struct proc *p, uint64_t limit_ms) {
    p->cpu_limit_ns = limit_ms * 1000000ULL;
    p->cpu_base_ns = cpu_used_ns(p);
    if (limit_ms > 0) {
        rlim_t secs = (rlim_t)(limit_ms / 1000 + 2);
        struct rlimit r = {secs, secs + 1};
        prlimit(p->pid, RLIMIT_CPU, &r, NULL);
    }
}

/* Kills the process tree that ran over its CPU time. */
static void check_cpu(struct proc *p) {
    if (p->cpu_limit_ns == 0 || p->exited || p->cpu_exceeded)
        return;
    long long used = cpu_used_ns(p);
    /* (Signed: the cgroup's count less the launcher's own may dip below an
     * earlier reading; the two clocks are sampled apart.) */
    if (used < 0 || p->cpu_base_ns < 0 || used - p->cpu_base_ns < (long long)p->cpu_limit_ns)
        return;
    p->cpu_exceeded = 1;
    kill_tree(p);
}

static long long oom_kills(void) {
    static const char *files[] = {"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        char line[128];
        long long n = -1;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "oom_kill %lld", &n) == 1)
                break;
        }
        fclose(f);
        if (n >= 0)
            return n;
    }
    return -1;
}

static int cloexec_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Sends `n` descriptors over the socket `sock`. */
static int pass_fds(int sock, const int *fds, int n) {
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(3 * sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space,
                       .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    ssize_t r;
    do {
        r = sendmsg(sock, &m, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r == 1 ? 0 : -1;
}

/* Receives exactly `n` descriptors from the socket `sock`. */
static int take_fds(int sock, int *fds, int n) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(3 * sizeof(int))];
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space, .msg_controllen = sizeof u.space};
    ssize_t r;
    do {
        r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    struct cmsghdr *c = r == 1 ? CMSG_FIRSTHDR(&m) : NULL;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN((size_t)n * sizeof(int)))
        return -1;
    memcpy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
    return 0;
}

/* Starts argv with stdin from a new pipe (with_stdin), /dev/null, and
 * stdout to `out_file` when given. The child takes the program's uid first
 * and then makes the pipes, so they are the program's (it may reopen
 * /dev/stdin, /dev/stdout, /dev/stderr); it hands the launcher's ends over
 * a socket. */
static void spawn(char **argv, int with_stdin, const char *out_file) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        fatal("socketpair: %s", strerror(errno));
    int out_fd = -1;
    if (out_file) {
        out_fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0)
            fatal("cannot open %s: %s", out_file, strerror(errno));
        give(out_fd, out_file);
    }
    struct proc *p = &L.child;
    memset(p, 0, sizeof *p);
    p->oom_before = oom_kills();
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    int ends = with_stdin ? 3 : 2;
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        close(sv[0]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* The program, not the launcher, is what the OOM killer takes. */
        int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (adj >= 0) {
            if (write(adj, "1000", 4) < 0) {
                /* Not fatal: the largest process is taken anyway. */
            }
            close(adj);
        }
        int o[2], e[2], i[2] = {-1, -1};
        if (become_program() < 0 || cloexec_pipe(o) || cloexec_pipe(e) || (with_stdin && cloexec_pipe(i)))
            _exit(126); /* the launcher, missing its ends, says why */
        int far[3] = {o[0], e[0], i[1]};
        if (pass_fds(sv[1], far, ends) < 0)
            _exit(126);
        close(sv[1]);
        close(o[0]);
        close(e[0]);
        if (with_stdin)
            close(i[1]);
        int in_fd = with_stdin ? i[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_file ? out_fd : o[1], 1) < 0 || dup2(e[1], 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        int err = errno;
        dprintf(2, "execbox: cannot run %s: %s\n", argv[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    close(sv[1]);
    int far[3] = {-1, -1, -1};
    if (take_fds(sv[0], far, ends) < 0)
        fatal("cannot start %s as the program's uid", argv[0]);
    close(sv[0]);
    if (out_fd >= 0)
        close(out_fd);
    p->pid = pid;
    p->out = far[0];
    p->err = far[1];
    set_nonblock(p->out);
    set_nonblock(p->err);
    p->in = with_stdin ? far[2] : -1;
    if (with_stdin)
        set_nonblock(p->in);
    L.have_child = 1;
}

/* Forwards what a pipe has; closes it at EOF. `limit`: most bytes to read
 * now (0: one read). */
static void forward(int *fd, int kind, size_t limit) {
    static unsigned char chunk[CHUNK];
    size_t total = 0;
    while (*fd >= 0) {
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(*fd);
            *fd = -1;
            return;
        }
        if (L.phase == CASE_RUNNING) {
            /* A case's output is bounded: past its budget the case is
             * killed and the rest is dropped. */
            if (L.child.output_exceeded)
                continue;
            if ((uint64_t)n > L.case_out_left) {
                n = (ssize_t)L.case_out_left;
                L.child.output_exceeded = 1;
                kill_tree(&L.child);
            }
            L.case_out_left -= (uint64_t)n;
            if (n == 0)
                continue;
        }
        send_frame(kind, chunk, (size_t)n, NULL, 0);
        total += (size_t)n;
        if (total >= limit)
            return;
    }
}

static void close_fd(int *fd) {
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* After the process exited: what it wrote is in its pipes; take it (bounded,
 * a leftover process may go on writing) and close them. */
static void drain(struct proc *p) {
    forward(&p->out, L_STDOUT, DRAIN_LIMIT);
    forward(&p->err, L_STDERR, DRAIN_LIMIT);
    close_fd(&p->out);
    close_fd(&p->err);
    close_fd(&p->in);
}

static void send_status(int kind, struct proc *p) {
    unsigned char s[48];
    int code = -1, sig = 0;
    if (WIFEXITED(p->status))
        code = WEXITSTATUS(p->status);
    else if (WIFSIGNALED(p->status))
        sig = WTERMSIG(p->status);
    uint64_t user_us = (uint64_t)p->ru.ru_utime.tv_sec * 1000000 + (uint64_t)p->ru.ru_utime.tv_usec;
    uint64_t sys_us = (uint64_t)p->ru.ru_stime.tv_sec * 1000000 + (uint64_t)p->ru.ru_stime.tv_usec;
    int64_t wall_ns = (int64_t)(p->end.tv_sec - p->start.tv_sec) * 1000000000 + (p->end.tv_nsec - p->start.tv_nsec);
    long long after = oom_kills();
    long long ooms = (p->oom_before >= 0 && after >= 0) ? after - p->oom_before : -1;
    put32(s, (uint32_t)code);
    put32(s + 4, (uint32_t)sig);
    put64(s + 8, user_us);
    put64(s + 16, sys_us);
    put64(s + 24, (uint64_t)(wall_ns / 1000));
    put64(s + 32, (uint64_t)p->ru.ru_maxrss);
    put32(s + 40, (uint32_t)(int32_t)ooms);
    /* flags: 1 = over its CPU time, 2 = over its wall time, 4 = over its
     * output bytes (the last two: cases only) */
    put32(s + 44, (p->cpu_exceeded ? 1u : 0u) | (p->wall_exceeded ? 2u : 0u) | (p->output_exceeded ? 4u : 0u));
    send_frame(kind, s, sizeof s, NULL, 0);
    L.last_status = code >= 0 ? code : 128 + sig;
}

/* Sends a file as a BLOCK frame: u16 name length, name, content. */
static void send_block(const char *name, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct buf content = {0};
    unsigned char chunk[CHUNK];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        buf_add(&content, chunk, (size_t)n);
        if (content.len > (32u << 20))
            break;
    }
    close(fd);
    size_t nlen = strlen(name);
    unsigned char head[2 + 64];
    head[0] = (unsigned char)(nlen >> 8);
    head[1] = (unsigned char)nlen;
    memcpy(head + 2, name, nlen);
    send_frame(L_BLOCK, head, 2 + nlen, content.data, content.len);
    free(content.data);
}

/* ---------------------------------------------------------------- cases */

/* /work as the compile stage left it, kept in this process's memory (which
 * the program can neither read nor write: this process is not dumpable). */
struct snap_entry {
    char *path;     /* relative to /work */
    int type;       /* 'd', 'f' or 'l' */
    mode_t mode;
    unsigned char *data; /* file content or link target */
    size_t len;
};

static struct {
    struct snap_entry *e;
    size_t n, cap, bytes;
    mode_t root_mode;
} snap;

/* Most bytes of /work a case snapshot keeps. */
#define SNAP_MAX (256u << 20)
/* Deepest directory tree emptied between cases. */
#define WIPE_DEPTH 256

static void snap_add(struct snap_entry e) {
    if (snap.n == snap.cap) {
        snap.cap = snap.cap ? snap.cap * 2 : 64;
        snap.e = realloc(snap.e, snap.cap * sizeof *snap.e);
        if (!snap.e)
            fatal("out of memory");
    }
    snap.e[snap.n++] = e;
}

static unsigned char *read_all(int fd, size_t *len) {
    struct buf b = {0};
    unsigned char chunk[CHUNK];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fatal("cannot read /work for the cases: %s", strerror(errno));
        }
        buf_add(&b, chunk, (size_t)n);
        if (snap.bytes + b.len > SNAP_MAX)
            fatal("/work holds more than %u MiB after compiling; too much to restore between cases", SNAP_MAX >> 20);
    }
    *len = b.len;
    return b.data;
}

/* Records the directory `dir` (relative path `rel`, "" for /work). */
static void snap_dir(int dir, const char *rel, int depth) {
    if (depth > WIPE_DEPTH)
        fatal("/work is nested too deeply to restore between cases");
    DIR *d = fdopendir(dup(dir));
    if (!d)
        fatal("cannot list /work for the cases: %s", strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        size_t plen = strlen(rel) + strlen(de->d_name) + 2;
        char *path = malloc(plen);
        if (!path)
            fatal("out of memory");
        snprintf(path, plen, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        struct snap_entry e = {.path = path, .mode = st.st_mode & 07777};
        if (S_ISDIR(st.st_mode)) {
            e.type = 'd';
            snap_add(e);
            int sub = openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                fatal("cannot open %s for the cases: %s", path, strerror(errno));
            snap_dir(sub, path, depth + 1);
            close(sub);
        } else if (S_ISREG(st.st_mode)) {
            int fd = openat(dir, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                fatal("cannot open %s for the cases: %s", path, strerror(errno));
            e.type = 'f';
            e.data = read_all(fd, &e.len);
            close(fd);
            snap.bytes += e.len;
            snap_add(e);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(dir, de->d_name, target, sizeof target);
            if (n < 0)
                continue;
            e.type = 'l';
            e.data = malloc((size_t)n + 1);
            if (!e.data)
                fatal("out of memory");
            memcpy(e.data, target, (size_t)n);
            e.data[n] = 0;
            e.len = (size_t)n;
            snap_add(e);
        } else {
            free(path); /* FIFOs, sockets, devices: not part of a build */
        }
    }
    closedir(d);
}

static void snapshot_work(void) {
    struct stat st;
    snap.root_mode = stat(".", &st) == 0 ? st.st_mode & 07777 : 0755;
    int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        fatal("cannot open /work: %s", strerror(errno));
    snap_dir(dir, "", 0);
    close(dir);
}

/* The BLOCK --export sends /work in, and TREE takes: per entry u8 type
 * ('d', 'f' or 'l'), u32 mode, u16 path length, path (relative to /work,
 * parents first), u32 data length, data (a file's content, a link's target). */
#define TREE_BLOCK "execbox.work"

static void send_tree(void) {
    snapshot_work();
    struct buf b = {0};
    for (size_t i = 0; i < snap.n; i++) {
        struct snap_entry *e = &snap.e[i];
        size_t plen = strlen(e->path);
        unsigned char head[11];
        head[0] = (unsigned char)e->type;
        put32(head + 1, (uint32_t)e->mode);
        head[5] = (unsigned char)(plen >> 8);
        head[6] = (unsigned char)plen;
        buf_add(&b, head, 7);
        buf_add(&b, e->path, plen);
        put32(head, (uint32_t)e->len);
        buf_add(&b, head, 4);
        if (e->len)
            buf_add(&b, e->data, e->len);
        if (b.len > MAX_FRAME - 64)
            fatal("/work holds more than %u MiB after compiling; too much to carry to the run's sandbox", MAX_FRAME >> 20);
    }
    const char *name = TREE_BLOCK;
    size_t nlen = strlen(name);
    unsigned char head[2 + sizeof TREE_BLOCK];
    head[0] = 0;
    head[1] = (unsigned char)nlen;
    memcpy(head + 2, name, nlen);
    send_frame(L_BLOCK, head, 2 + nlen, b.data, b.len);
    free(b.data);
}

/* A path TREE may hold: relative, no empty, "." or ".." component. */
static int tree_path(const char *p) {
    if (!*p || *p == '/')
        return 0;
    for (const char *c = p; *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') || n > 255)
            return 0;
        c += n + (end ? 1 : 0);
        if (end && !*c)
            return 0;
    }
    return 1;
}

static void restore_work(void);

/* TREE: /work as another sandbox compiled it, restored here as the
 * program's. */
static void take_tree(const unsigned char *p, size_t len) {
    if (snap.n)
        fatal("TREE twice");
    size_t off = 0;
    while (off < len) {
        if (len - off < 7)
            fatal("TREE frame cut");
        struct snap_entry e = {.type = p[off], .mode = get32(p + off + 1) & 07777};
        size_t plen = ((size_t)p[off + 5] << 8) | p[off + 6];
        off += 7;
        if (len - off < plen + 4 || (e.type != 'd' && e.type != 'f' && e.type != 'l'))
            fatal("TREE frame cut or of an unknown entry");
        e.path = strndup((const char *)p + off, plen);
        if (!e.path || strlen(e.path) != plen || !tree_path(e.path))
            fatal("TREE holds a path outside /work");
        off += plen;
        e.len = get32(p + off);
        off += 4;
        if (len - off < e.len)
            fatal("TREE frame cut");
        e.data = malloc(e.len + 1);
        if (!e.data)
            fatal("out of memory");
        memcpy(e.data, p + off, e.len);
        e.data[e.len] = 0;
        if (e.type == 'l' && memchr(e.data, 0, e.len))
            fatal("TREE holds a link with a NUL byte");
        off += e.len;
        snap.bytes += e.len;
        snap_add(e);
    }
    struct stat st;
    snap.root_mode = stat(".", &st) == 0 ? st.st_mode & 07777 : 01777;
    restore_work();
    /* Forgotten: with --cases, START snapshots /work as it is now. */
    for (size_t i = 0; i < snap.n; i++) {
        free(snap.e[i].path);
        free(snap.e[i].data);
    }
    snap.n = snap.bytes = 0;
}

/* Removes everything inside the directory `dir`, whatever modes the program
 * left (the launcher may: it keeps CAP_FOWNER and CAP_DAC_OVERRIDE). */
static void wipe(int dir, int depth) {
    if (depth > WIPE_DEPTH)
        fatal("the program nested directories too deeply to clean up between cases");
    DIR *d = fdopendir(dup(dir));
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dir, de->d_name, 0) == 0)
            continue;
        struct stat st;
        if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        fchmodat(dir, de->d_name, 0700, 0);
        int sub = openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            wipe(sub, depth + 1);
            close(sub);
        }
        unlinkat(dir, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static void wipe_path(const char *path) {
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return;
    wipe(dir, 0);
    close(dir);
}

/* Creates `path` (`flags`: O_EXCL or O_TRUNC) with `data` and `mode`. */
static void write_whole(const char *path, const unsigned char *data, size_t len, mode_t mode, int flags) {
    int fd = open(path, O_WRONLY | O_CREAT | flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        fatal("cannot create %s: %s", path, strerror(errno));
    give(fd, path);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fatal("cannot write %s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    fchmod(fd, mode);
    close(fd);
}

/* /work as it was after compiling; /tmp and /dev/shm empty. */
static void restore_work(void) {
    chmod(".", 0700);
    wipe_path(".");
    for (size_t i = 0; i < snap.n; i++) {
        struct snap_entry *e = &snap.e[i];
        if (e->type == 'd') {
            if (mkdir(e->path, 0700) < 0)
                fatal("cannot restore %s: %s", e->path, strerror(errno));
        } else if (e->type == 'f') {
            write_whole(e->path, e->data, e->len, e->mode, O_EXCL);
            continue;
        } else if (symlink((const char *)e->data, e->path) < 0) {
            fatal("cannot restore %s: %s", e->path, strerror(errno));
        }
        if (lchown(e->path, program_uid, program_gid) < 0)
            fatal("cannot give %s to the program: %s", e->path, strerror(errno));
    }
    /* Directories' modes last (a read-only one was written into). */
    for (size_t i = snap.n; i-- > 0;) {
        if (snap.e[i].type == 'd')
            chmod(snap.e[i].path, snap.e[i].mode);
    }
    chmod(".", snap.root_mode);
    wipe_path("/tmp");
    wipe_path("/dev/shm");
}

static uint64_t get64(const unsigned char *p) { return ((uint64_t)get32(p) << 32) | get32(p + 4); }

/* A CASE frame: u64 wall ms, u64 CPU ms (0: none), u64 output bytes,
 * u16 argument count, each u32 length and bytes, u16 file count, each
 * u16 name length, name, u32 length and bytes; the rest is stdin. */
static void start_case(const unsigned char *p, size_t len) {
    if (L.phase != CASE_WAIT)
        fatal("CASE out of turn");
    size_t off = 0;
#define NEED(n)                                                                                                        \
    do {                                                                                                               \
        if (len - off < (size_t)(n))                                                                                   \
            fatal("CASE frame too short");                                                                             \
    } while (0)
    NEED(26);
    uint64_t wall_ms = get64(p), cpu_ms = get64(p + 8), out_cap = get64(p + 16);
    size_t nargs = ((size_t)p[24] << 8) | p[25];
    off = 26;
    size_t nbase = 0;
    while (L.run[nbase])
        nbase++;
    char **argv = calloc(nbase + nargs + 1, sizeof *argv);
    if (!argv)
        fatal("out of memory");
    for (size_t i = 0; i < nbase; i++)
        argv[i] = L.run[i];
    for (size_t i = 0; i < nargs; i++) {
        NEED(4);
        size_t alen = get32(p + off);
        off += 4;
        NEED(alen);
        argv[nbase + i] = strndup((const char *)p + off, alen);
        off += alen;
    }
    restore_work();
    NEED(2);
    size_t nfiles = ((size_t)p[off] << 8) | p[off + 1];
    off += 2;
    for (size_t i = 0; i < nfiles; i++) {
        NEED(2);
        size_t nlen = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        NEED(nlen + 4);
        if (!safe_name((const char *)p + off, nlen))
            fatal("refusing case file name");
        char name[129];
        memcpy(name, p + off, nlen);
        name[nlen] = 0;
        off += nlen;
        size_t clen = get32(p + off);
        off += 4;
        NEED(clen);
        write_whole(name, p + off, clen, 0644, O_TRUNC);
        off += clen;
    }
#undef NEED
    L.stdin_buf.off = L.stdin_buf.len = 0;
    buf_add(&L.stdin_buf, p + off, len - off);
    L.stdin_eof = 1;
    L.case_out_left = out_cap;
    L.phase = CASE_RUNNING;
    spawn(argv, 1, NULL);
    for (size_t i = nbase; i < nbase + nargs; i++)
        free(argv[i]);
    free(argv);
    clock_gettime(CLOCK_MONOTONIC, &L.case_deadline);
    L.case_deadline.tv_sec += (time_t)(wall_ms / 1000);
    L.case_deadline.tv_nsec += (long)(wall_ms % 1000) * 1000000L;
    if (L.case_deadline.tv_nsec >= 1000000000L) {
        L.case_deadline.tv_sec++;
        L.case_deadline.tv_nsec -= 1000000000L;
    }
    limit_cpu(&L.child, cpu_ms);
}

/* Nanoseconds until the case's wall deadline (0 once passed). */
static long long case_left_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = (long long)(L.case_deadline.tv_sec - now.tv_sec) * 1000000000LL +
                     (L.case_deadline.tv_nsec - now.tv_nsec);
    return left > 0 ? left : 0;
}

/* The cases are over (the host said so, or went away). */
static void end_cases(void) {
    /* Its status says nothing: each case had its own. */
    struct proc none = {0};
    none.oom_before = -1;
    send_status(L_EXITED, &none);
    L.phase = DONE;
}

/* ------------------------------------------------------------- the run */

static void start_program(void) {
    if (L.cases) {
        snapshot_work();
        L.phase = CASE_WAIT;
        if (L.cases_over)
            end_cases();
        return;
    }
    if (L.report) {
        L.phase = VALIDATING;
        spawn(L.run, 1, L.report_stdout ? L.report : NULL);
    } else {
        L.phase = RUNNING;
        if (!L.have_child)
            spawn(L.run, 1, NULL);
    }
    /* (A prestarted interpreter counts from here: its startup was not the
     * session's.) */
    limit_cpu(&L.child, L.cpu_limit_ms[1]);
}

static void after_files(void) {
    if (L.prestart) {
        L.fifo_ready = 1;
        if (L.fifo_died)
            close_fd(&L.fifo);
    }
    if (L.compile) {
        L.phase = COMPILING;
        spawn(L.compile, 0, NULL);
        limit_cpu(&L.child, L.cpu_limit_ms[0]);
    } else {
        start_program();
    }
}

/* A validation run is over: nothing the tested code started may print any
 * more, then the report and timings go to the host. */
static void finish_validation(struct proc *p) {
    if (getpid() == 1)
        kill(-1, SIGKILL);
    drain(p);
    send_block("report", L.report);
    if (L.bench_file)
        send_block("bench", L.bench_file);
    send_status(L_EXITED, p);
    L.phase = DONE;
}

/* The current process ended. */
static void child_done(void) {
    struct proc *p = &L.child;
    switch (L.phase) {
    case COMPILING:
        drain(p);
        send_status(L_COMPILED, p);
        L.have_child = 0;
        if (!(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0)) {
            L.phase = DONE;
            return;
        }
        if (L.export) {
            send_tree();
            send_status(L_EXITED, p);
            L.phase = DONE;
            return;
        }
        L.phase = WAIT_GO;
        return;
    case RUNNING:
        drain(p);
        send_status(L_EXITED, p);
        L.phase = DONE;
        return;
    case VALIDATING:
        if (L.then && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0) {
            drain(p);
            L.phase = BENCHING;
            spawn(L.then, 0, NULL);
            limit_cpu(&L.child, L.cpu_limit_ms[1]);
            return;
        }
        finish_validation(p);
        return;
    case BENCHING:
        finish_validation(p);
        return;
    case CASE_RUNNING:
        /* Nothing of this case may outlive it. */
        kill_tree(p);
        drain(p);
        send_status(L_CASE_DONE, p);
        L.have_child = 0;
        L.phase = CASE_WAIT;
        if (L.cases_over)
            end_cases();
        return;
    default:
        /* A prestarted interpreter that died before its files came. */
        if (L.prestart && L.phase == WAIT_FILES) {
            drain(p);
            send_status(L_EXITED, p);
            L.phase = DONE;
        }
        return;
    }
}

static void reap(void) {
    for (;;) {
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, WNOHANG, &ru);
        if (pid <= 0)
            return;
        if (L.have_child && pid == L.child.pid && !L.child.exited) {
            L.child.exited = 1;
            L.child.status = status;
            L.child.ru = ru;
            clock_gettime(CLOCK_MONOTONIC, &L.child.end);
        }
    }
}

static int safe_name(const char *name, size_t len) {
    if (len == 0 || len > 128 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static void write_file(const unsigned char *p, size_t len) {
    if (len < 2)
        fatal("FILE frame too short");
    size_t nlen = ((size_t)p[0] << 8) | p[1];
    if (len < 2 + nlen)
        fatal("FILE frame too short");
    char name[129];
    if (!safe_name((const char *)p + 2, nlen))
        fatal("refusing file name");
    memcpy(name, p + 2, nlen);
    name[nlen] = 0;
    const unsigned char *content = p + 2 + nlen;
    size_t clen = len - 2 - nlen;
    write_whole(name, content, clen, 0644, O_EXCL);
    if (L.prestart && strcmp(name, L.prestart) == 0)
        buf_add(&L.fifo_buf, content, clen);
}

/* LAUNCH: a warm container takes a session whose command line is not the
 * one it was started with. The prestarted interpreter, unused, is killed,
 * and the launcher goes on as if started with these arguments (u16 count,
 * each u32 length + bytes), which may not prestart again. */
static void relaunch(const unsigned char *p, size_t len) {
    if (len < 2)
        fatal("LAUNCH frame too short");
    size_t n = ((size_t)p[0] << 8) | p[1], off = 2;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv)
        fatal("out of memory");
    argv[0] = "execbox-launcher";
    for (size_t i = 0; i < n; i++) {
        if (len - off < 4)
            fatal("LAUNCH frame too short");
        size_t alen = get32(p + off);
        off += 4;
        if (len - off < alen || memchr(p + off, 0, alen))
            fatal("LAUNCH argument %zu is cut or holds a NUL byte", i);
        argv[i + 1] = strndup((const char *)p + off, alen);
        if (!argv[i + 1])
            fatal("out of memory");
        off += alen;
    }
    if (off != len)
        fatal("LAUNCH frame has %zu bytes too many", len - off);
    if (L.have_child) {
        kill_tree(&L.child);
        int status;
        while (waitpid(L.child.pid, &status, 0) < 0 && errno == EINTR)
            ;
        close_fd(&L.child.out);
        close_fd(&L.child.err);
        close_fd(&L.child.in);
        L.have_child = 0;
    }
    close_fd(&L.fifo);
    L.fifo_buf.off = L.fifo_buf.len = 0;
    L.fifo_died = 0;
    L.prestart = L.report = L.bench_file = NULL;
    L.report_stdout = L.cases = L.export = 0;
    L.compile = L.then = NULL;
    parse_args((int)n + 1, argv);
    if (L.prestart)
        fatal("--prestart in LAUNCH (only a container's own command line prestarts)");
}

/* Handles every complete frame the host sent. */
static void host_frames(void) {
    for (;;) {
        size_t have = buf_size(&L.host);
        unsigned char *p = L.host.data + L.host.off;
        if (have < 5)
            return;
        uint32_t len = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
        if (len > MAX_FRAME)
            fatal("frame of %u bytes is too large", len);
        if (have < 5 + (size_t)len)
            return;
        int kind = p[0];
        unsigned char *payload = p + 5;
        L.host.off += 5 + (size_t)len;
        int first = !L.framed;
        L.framed = 1;
        switch (kind) {
        case H_LAUNCH:
            if (!first || L.phase != WAIT_FILES)
                fatal("LAUNCH after another frame");
            relaunch(payload, len);
            break;
        case H_TREE:
            if (L.phase != WAIT_FILES)
                fatal("TREE after START");
            take_tree(payload, len);
            break;
        case H_FILE:
            if (L.phase != WAIT_FILES)
                fatal("FILE after START");
            write_file(payload, len);
            break;
        case H_START:
            if (L.phase != WAIT_FILES)
                fatal("START twice");
            /* Optional: u64 compile CPU ms, u64 run CPU ms (0: none). */
            if (len >= 16) {
                L.cpu_limit_ms[0] = ((uint64_t)get32(payload) << 32) | get32(payload + 4);
                L.cpu_limit_ms[1] = ((uint64_t)get32(payload + 8) << 32) | get32(payload + 12);
            }
            after_files();
            break;
        case H_GO:
            if (L.phase != WAIT_GO)
                fatal("GO out of turn");
            start_program();
            break;
        case H_STDIN:
            if (L.cases)
                fatal("STDIN in cases mode (a case's stdin is in its CASE)");
            buf_add(&L.stdin_buf, payload, len);
            break;
        case H_EOF:
            if (L.cases) {
                L.cases_over = 1;
                if (L.phase == CASE_WAIT)
                    end_cases();
                break;
            }
            L.stdin_eof = 1;
            break;
        case H_CASE:
            if (!L.cases)
                fatal("CASE without --cases");
            start_case(payload, len);
            break;
        default:
            fatal("unknown frame kind %d", kind);
        }
    }
}

/* Writes what it can of a buffer to a non-blocking fd; closes the fd when
 * the buffer is empty and `eof`, or when the reader is gone. */
static void pump(int *fd, struct buf *b, int eof) {
    while (*fd >= 0 && buf_size(b) > 0) {
        ssize_t n = write(*fd, b->data + b->off, buf_size(b));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            /* The reader closed its end: the rest is not wanted. */
            b->off = b->len = 0;
            close_fd(fd);
            return;
        }
        b->off += (size_t)n;
    }
    if (*fd >= 0 && buf_size(b) == 0 && eof)
        close_fd(fd);
}

static void on_signal(void) {
    struct signalfd_siginfo si;
    while (read(L.sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            continue;
        /* Passed on to the program, as a plain kill of it would. */
        if (L.have_child && !L.child.exited)
            kill(L.child.pid, (int)si.ssi_signo);
    }
}

static void loop(void) {
    while (L.phase != DONE) {
        reap();
        if (L.have_child && L.child.exited) {
            child_done();
            continue;
        }
        struct proc *c = &L.child;
        int running = L.have_child && (L.phase == RUNNING || L.phase == VALIDATING || L.phase == CASE_RUNNING);
        if (running && c->in >= 0)
            pump(&c->in, &L.stdin_buf, L.stdin_eof);
        if (L.fifo_ready && L.fifo >= 0)
            pump(&L.fifo, &L.fifo_buf, 1);

        struct pollfd fds[6];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = L.sigfd, .events = POLLIN};
        int host_i = -1, out_i = -1, err_i = -1, in_i = -1, fifo_i = -1;
        if (L.host_open && buf_size(&L.stdin_buf) < STDIN_HIGH) {
            host_i = n;
            fds[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
        }
        if (L.have_child && c->out >= 0) {
            out_i = n;
            fds[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
        }
        if (L.have_child && c->err >= 0) {
            err_i = n;
            fds[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
        }
        if (running && c->in >= 0 && buf_size(&L.stdin_buf) > 0) {
            in_i = n;
            fds[n++] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        }
        if (L.fifo_ready && L.fifo >= 0 && buf_size(&L.fifo_buf) > 0) {
            fifo_i = n;
            fds[n++] = (struct pollfd){.fd = L.fifo, .events = POLLOUT};
        }
        struct timespec ts;
        struct timespec *timeout = flush_timeout(&ts);
        int counting = L.have_child && !L.child.exited && L.child.cpu_limit_ns > 0;
        if (counting && (!timeout || timeout->tv_nsec > CPU_CHECK_NS)) {
            /* The CPU time is counted every CPU_CHECK_NS. */
            ts.tv_sec = 0;
            ts.tv_nsec = CPU_CHECK_NS;
            timeout = &ts;
        }
        int timing = L.phase == CASE_RUNNING && L.have_child && !L.child.exited && !L.child.wall_exceeded;
        if (timing) {
            long long left = case_left_ns();
            if (left == 0) {
                L.child.wall_exceeded = 1;
                kill_tree(&L.child);
                continue;
            }
            if (!timeout || (long long)timeout->tv_sec * 1000000000LL + timeout->tv_nsec > left) {
                ts.tv_sec = (time_t)(left / 1000000000LL);
                ts.tv_nsec = (long)(left % 1000000000LL);
                timeout = &ts;
            }
        }
        int ready = ppoll(fds, (nfds_t)n, timeout, NULL);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fatal("poll: %s", strerror(errno));
        }
        if (out.pending.len > 0 && flush_timeout(&ts)->tv_nsec == 0)
            flush_out();
        if (counting)
            check_cpu(&L.child);
        if (fds[0].revents)
            on_signal();
        if (out_i >= 0 && fds[out_i].revents)
            forward(&c->out, L_STDOUT, 0);
        if (err_i >= 0 && fds[err_i].revents)
            forward(&c->err, L_STDERR, 0);
        if (host_i >= 0 && fds[host_i].revents) {
            unsigned char chunk[CHUNK];
            ssize_t r = read(0, chunk, sizeof chunk);
            if (r > 0) {
                buf_add(&L.host, chunk, (size_t)r);
                host_frames();
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                /* The host closed our stdin: no more frames will come. */
                L.host_open = 0;
                L.stdin_eof = 1;
                if (L.phase == WAIT_FILES || L.phase == WAIT_GO)
                    fatal("the host closed the stream before the run started");
                if (L.cases) {
                    L.cases_over = 1;
                    if (L.phase == CASE_WAIT)
                        end_cases();
                }
            }
        }
        (void)in_i;
        (void)fifo_i;
    }
}

/* ------------------------------------------------------------ prestart */

static volatile sig_atomic_t prestart_died;

static void prestart_chld(int sig) {
    (void)sig;
    /* The interpreter died before opening its script: open the FIFO's read
     * end here so the blocked open for writing below returns. */
    prestart_died = 1;
    int saved = errno;
    if (L.prestart)
        open(L.prestart, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    errno = saved;
}

/* Starts the interpreter before its script exists: FILE is a FIFO, whose
 * name is removed once the interpreter opened it. Its content is fed when
 * the files arrive (it is also written as a regular file, so later reads,
 * e.g. for tracebacks, find it). */
static void prestart(sigset_t *blocked) {
    if (mkfifo(L.prestart, 0600) < 0 || chown(L.prestart, program_uid, program_gid) < 0)
        fatal("mkfifo %s: %s", L.prestart, strerror(errno));
    struct sigaction sa = {0};
    sa.sa_handler = prestart_chld;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    spawn(L.run, 1, NULL);
    /* SIGCHLD may be pending already; unblocking it runs the handler. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    int fd;
    do {
        fd = open(L.prestart, O_WRONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    sigprocmask(SIG_SETMASK, blocked, NULL);
    signal(SIGCHLD, SIG_DFL);
    if (fd < 0)
        fatal("open %s: %s", L.prestart, strerror(errno));
    unlink(L.prestart);
    set_nonblock(fd);
    L.fifo = fd;
    L.fifo_died = prestart_died;
}

/* ------------------------------------------------------------ arguments */

static void usage(void) { fatal("usage: execbox-launcher [options] RUN-ARGV..."); }

static void parse_args(int argc, char **argv) {
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--compile") != 0) {
        if (strcmp(argv[i], "--cases") == 0) {
            L.cases = 1;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--export") == 0) {
            L.export = 1;
            i++;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--prestart") == 0) {
            L.prestart = argv[i + 1];
            if (!safe_name(L.prestart, strlen(L.prestart)))
                fatal("refusing --prestart file name");
        } else if (strcmp(argv[i], "--report") == 0) {
            L.report = argv[i + 1];
        } else if (strcmp(argv[i], "--report-stdout") == 0) {
            L.report = argv[i + 1];
            L.report_stdout = 1;
        } else if (strcmp(argv[i], "--bench") == 0) {
            L.bench_file = argv[i + 1];
        } else {
            usage();
        }
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--compile") == 0) {
        int start = ++i;
        while (i < argc && strcmp(argv[i], "--") != 0)
            i++;
        if (i >= argc || i == start)
            usage();
        argv[i] = NULL;
        L.compile = argv + start;
        i++;
    }
    if (i >= argc)
        usage();
    L.run = argv + i;
    for (int j = i; j < argc; j++) {
        if (L.report && strcmp(argv[j], "--then") == 0) {
            argv[j] = NULL;
            if (j + 1 >= argc)
                usage();
            L.then = argv + j + 1;
            break;
        }
    }
    if (L.prestart && (L.report || L.compile || L.cases))
        fatal("--prestart is for plain runs only");
    if (L.cases && L.report)
        fatal("--cases and --report do not mix");
    if (L.export && (!L.compile || L.cases || L.report || L.prestart))
        fatal("--export is for a compile stage alone");
}

int main(int argc, char **argv) {
    /* The program's identity comes first, and only on the container's own
     * command line (LAUNCH cannot change it). */
    if (argc < 3 || strcmp(argv[1], "--as") != 0)
        fatal("usage: execbox-launcher --as UID:GID [options] RUN-ARGV...");
    parse_identity(argv[2]);
    argv[2] = argv[0];
    argc -= 2;
    argv += 2;
    become_launcher();
    if (getpid() != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv);
    /* /work is a tmpfs set up by the sandbox policy. */
    if (chdir("/work") < 0)
        fatal("cannot enter /work: %s", strerror(errno));

    sigset_t blocked;
    sigemptyset(&blocked);
    int forwarded[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(&blocked, forwarded[i]);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    L.sigfd = signalfd(-1, &blocked, SFD_NONBLOCK | SFD_CLOEXEC);
    if (L.sigfd < 0)
        fatal("signalfd: %s", strerror(errno));
    /* The host's stream and ours are the launcher's alone. */
    fcntl(0, F_SETFD, FD_CLOEXEC);
    fcntl(1, F_SETFD, FD_CLOEXEC);
    fcntl(2, F_SETFD, FD_CLOEXEC);

    L.phase = WAIT_FILES;
    if (L.prestart)
        prestart(&blocked);
    loop();
    return L.last_status & 0xff;
}
