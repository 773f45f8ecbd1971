/* dg-bench: timing helper for bench/run.sh.  Every time is CLOCK_MONOTONIC in microseconds.
 *
 *   dg-bench now
 *       prints the monotonic clock.
 *   dg-bench stamp CMD...
 *       runs CMD, prints "START END RC WORD": WORD is the first word CMD printed ("-": none).
 *   dg-bench latency OUT_NETNS HOST_NETNS RULES_FILE ADDR PORT TIMEOUT_MS -- CMD...
 *       runs CMD (e.g. `docker run -d ...` of a container that will get ADDR) and, from the
 *       moment it returns, polls three things at once until all are seen or TIMEOUT_MS:
 *         ready     a TCP handshake to [ADDR]:PORT from HOST_NETNS (the host lab: OUTPUT path,
 *                   no FORWARD filtering), i.e. the container's service listens;
 *         rule      " PORT ADDR " on a "### tuple ###" line of RULES_FILE (ufw has written it);
 *         enforced  a TCP handshake to [ADDR]:PORT from OUT_NETNS (routed through ufw).
 *       A new SYN is sent every 5 ms in each netns; each attempt is abandoned after 100 ms
 *       (dropped SYNs get no answer), so the resolution is ~5 ms.  Prints
 *       "RC RUN_US READY_US RULE_US ENFORCED_US": RUN_US is how long CMD took, the others
 *       are measured from CMD's return; -1 means not seen before the timeout.
 *   dg-bench connect NETNS ADDR PORT TIMEOUT_MS
 *       one TCP handshake from NETNS: exit 0 if it completed, 1 if not.
 *   dg-bench count-rules RULES_FILE HEX_PREFIX WANT TIMEOUT_MS
 *       polls (every 2 ms) until exactly WANT tuple lines carry comment=HEX_PREFIX...; prints
 *       "END_US COUNT" (END_US = -1 and the last count on timeout, exit 1).  WANT -1: count once.
 *       WANT ">=N" / "<=N": at least / at most N (a batch can add or remove many rules at once,
 *       so "the first rule" is ">=1", not exactly 1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void sleep_us(long long us) {
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* runs argv; its stdout goes to /dev/null, or, with FIRST, its first word is kept there */
static int run_cmd(char **argv, char *first) { /* FIRST: 256 bytes */
    int pfd[2] = {-1, -1};
    if (first) {
        first[0] = 0;
        if (pipe(pfd) < 0) { perror("dg-bench: pipe"); return 127; }
    }
    pid_t pid = fork();
    if (pid < 0) { perror("dg-bench: fork"); return 127; }
    if (pid == 0) {
        int fd = first ? pfd[1] : open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        if (first) { close(pfd[0]); close(pfd[1]); }
        execvp(argv[0], argv);
        perror("dg-bench: exec");
        _exit(127);
    }
    if (first) {
        char buf[4096];
        size_t len = 0;
        ssize_t n;
        close(pfd[1]);
        while ((n = read(pfd[0], buf + len, sizeof buf - 1 - len)) != 0) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;
            len += (size_t)n;
            if (len == sizeof buf - 1) len = 0; /* only the start matters; drain the rest */
        }
        close(pfd[0]);
        buf[len] = 0;
        sscanf(buf, "%255s", first);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* read a whole file into a growing buffer; returns length or -1 */
static char *g_buf;
static size_t g_cap;
static long read_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = 0;
    for (;;) {
        if (len + 65536 + 1 > g_cap) {
            g_cap = (len + 65536 + 1) * 2;
            g_buf = realloc(g_buf, g_cap);
            if (!g_buf) { close(fd); return -1; }
        }
        ssize_t n = read(fd, g_buf + len, g_cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    g_buf[len] = 0;
    return (long)len;
}

/* number of "### tuple ###" lines containing NEEDLE (NULL: all tuple lines); -1 when the file
 * cannot be read or is incomplete.  ufw rewrites user6.rules in place (shutil.copy over the
 * original, not a rename), so a reader can catch it truncated or half written: only a file
 * that ends with its COMMIT line counts. */
static int count_tuples(const char *path, const char *needle) {
    long len = read_file(path);
    if (len < 0) return -1;
    while (len > 0 && (g_buf[len - 1] == '\n' || g_buf[len - 1] == ' ')) len--;
    if (len < 6 || memcmp(g_buf + len - 6, "COMMIT", 6) != 0) return -1;
    int n = 0;
    for (char *line = g_buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (strncmp(line, "### tuple ###", 13) == 0 && (!needle || strstr(line, needle))) n++;
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static int open_ns(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "dg-bench: open %s: %s\n", path, strerror(errno)); exit(2); }
    return fd;
}

/* a non-blocking connect started from netns NSFD; -1 on error */
static int start_connect(int nsfd, const struct sockaddr_in6 *dst) {
    if (setns(nsfd, CLONE_NEWNET) < 0) { perror("dg-bench: setns"); exit(2); }
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    int one = 1;
    setsockopt(s, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT pile-up in the container */
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(s, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
}

#define MAXS 64
struct prober {
    int nsfd;
    int fd[MAXS];
    long long born[MAXS];
    long long next;
    long long seen; /* -1 until a handshake completed */
};

static void prober_init(struct prober *p, int nsfd) {
    p->nsfd = nsfd;
    for (int i = 0; i < MAXS; i++) p->fd[i] = -1;
    p->next = 0;
    p->seen = -1;
}

static void prober_close(struct prober *p) {
    for (int i = 0; i < MAXS; i++)
        if (p->fd[i] >= 0) { close(p->fd[i]); p->fd[i] = -1; }
}

/* one step: expire, start a new attempt if due, check completions (non-blocking) */
static void prober_step(struct prober *p, const struct sockaddr_in6 *dst, long long t0) {
    if (p->seen >= 0) return;
    long long t = now_us();
    for (int i = 0; i < MAXS; i++)
        if (p->fd[i] >= 0 && t - p->born[i] > 100000) { close(p->fd[i]); p->fd[i] = -1; }
    if (t >= p->next) {
        for (int i = 0; i < MAXS; i++)
            if (p->fd[i] < 0) {
                p->fd[i] = start_connect(p->nsfd, dst);
                p->born[i] = t;
                break;
            }
        p->next = t + 5000;
    }
    struct pollfd pf[MAXS];
    int idx[MAXS], n = 0;
    for (int i = 0; i < MAXS; i++)
        if (p->fd[i] >= 0) { pf[n].fd = p->fd[i]; pf[n].events = POLLOUT; pf[n].revents = 0; idx[n++] = i; }
    if (n == 0 || poll(pf, (nfds_t)n, 0) <= 0) return;
    for (int k = 0; k < n; k++) {
        if (!pf[k].revents) continue;
        int i = idx[k], err = 0;
        socklen_t len = sizeof err;
        getsockopt(p->fd[i], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (pf[k].revents & POLLOUT)) {
            p->seen = now_us() - t0;
            prober_close(p);
            return;
        }
        close(p->fd[i]); /* refused (nothing listens yet) or unreachable: try again later */
        p->fd[i] = -1;
    }
}

static int parse_addr(const char *addr, int port, struct sockaddr_in6 *dst) {
    memset(dst, 0, sizeof *dst);
    dst->sin6_family = AF_INET6;
    dst->sin6_port = htons((unsigned short)port);
    if (inet_pton(AF_INET6, addr, &dst->sin6_addr) != 1) {
        fprintf(stderr, "dg-bench: bad address %s\n", addr);
        return -1;
    }
    return 0;
}

static int cmd_latency(int argc, char **argv) {
    /* latency OUT HOST RULES ADDR PORT TIMEOUT -- CMD... */
    if (argc < 10 || strcmp(argv[8], "--") != 0) {
        fprintf(stderr, "usage: dg-bench latency OUT_NETNS HOST_NETNS RULES ADDR PORT TIMEOUT_MS -- CMD...\n");
        return 2;
    }
    int outfd = open_ns(argv[2]), hostfd = open_ns(argv[3]);
    const char *rules = argv[4], *addr = argv[5];
    int port = atoi(argv[6]);
    long long timeout = atoll(argv[7]) * 1000;
    struct sockaddr_in6 dst;
    if (parse_addr(addr, port, &dst) < 0) return 2;
    char needle[128];
    snprintf(needle, sizeof needle, " %d %s ", port, addr);

    long long ts = now_us();
    int rc = run_cmd(argv + 9, NULL);
    long long t0 = now_us();
    struct prober out, host;
    prober_init(&out, outfd);
    prober_init(&host, hostfd);
    long long rule = -1, last_rule_check = 0;
    if (rc == 0) {
        while (now_us() - t0 < timeout) {
            prober_step(&out, &dst, t0);
            prober_step(&host, &dst, t0);
            long long t = now_us();
            if (rule < 0 && t - last_rule_check >= 2000) {
                last_rule_check = t;
                if (count_tuples(rules, needle) > 0) rule = now_us() - t0;
            }
            if (out.seen >= 0 && host.seen >= 0 && rule >= 0) break;
            sleep_us(500);
        }
    }
    prober_close(&out);
    prober_close(&host);
    printf("%d %lld %lld %lld %lld\n", rc, t0 - ts, host.seen, rule, out.seen);
    return 0;
}

static int cmd_connect(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: dg-bench connect NETNS ADDR PORT TIMEOUT_MS\n"); return 2; }
    int nsfd = open_ns(argv[2]);
    struct sockaddr_in6 dst;
    if (parse_addr(argv[3], atoi(argv[4]), &dst) < 0) return 2;
    long long deadline = now_us() + atoll(argv[5]) * 1000;
    int s = start_connect(nsfd, &dst);
    if (s < 0) return 1;
    for (;;) {
        long long left = deadline - now_us();
        if (left <= 0) return 1;
        struct pollfd pf = {s, POLLOUT, 0};
        int r = poll(&pf, 1, (int)(left / 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 1;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        return err == 0 ? 0 : 1;
    }
}

static int cmd_count_rules(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: dg-bench count-rules RULES HEX_PREFIX WANT TIMEOUT_MS\n"); return 2; }
    char needle[256];
    snprintf(needle, sizeof needle, "comment=%s", argv[3]);
    const char *w = argv[4];
    int cmp = 0; /* 0: exactly, 1: at least, -1: at most */
    if (strncmp(w, ">=", 2) == 0) { cmp = 1; w += 2; }
    else if (strncmp(w, "<=", 2) == 0) { cmp = -1; w += 2; }
    int want = atoi(w), n = -1;
    long long deadline = now_us() + atoll(argv[5]) * 1000;
    if (want < 0 && cmp == 0) { /* just count (retrying while ufw is rewriting the file) */
        for (int i = 0; i < 1000 && (n = count_tuples(argv[2], needle)) < 0; i++) sleep_us(2000);
        printf("%lld %d\n", now_us(), n);
        return n < 0;
    }
    for (;;) {
        n = count_tuples(argv[2], needle);
        long long t = now_us();
        if (n >= 0 && (cmp == 0 ? n == want : cmp > 0 ? n >= want : n <= want)) { printf("%lld %d\n", t, n); return 0; }
        if (t >= deadline) { printf("-1 %d\n", n); return 1; }
        sleep_us(2000);
    }
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "now") == 0) { printf("%lld\n", now_us()); return 0; }
    if (argc >= 3 && strcmp(argv[1], "stamp") == 0) {
        char first[256];
        long long t = now_us();
        int rc = run_cmd(argv + 2, first);
        long long t1 = now_us();
        printf("%lld %lld %d %s\n", t, t1, rc, first[0] ? first : "-");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "latency") == 0) return cmd_latency(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "connect") == 0) return cmd_connect(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "count-rules") == 0) return cmd_count_rules(argc, argv);
    fprintf(stderr, "usage: dg-bench now | stamp CMD... | latency ... | connect ... | count-rules ...\n");
    return 2;
}
