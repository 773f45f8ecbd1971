// The --user daemon: a root supervisor forking the executor, the Docker API filter, the watcher.
#include "supervisor.hpp"

#include "dockgate/docker/docker_api_proxy.hpp"
#include "dockgate/privsep/executor.hpp"
#include "dockgate/privsep/privsep.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <thread>
#include <unistd.h>

namespace dockgate::daemon {
namespace {

using steady = std::chrono::steady_clock;

/// The supervisor's state: what its children inherit, their pids, and whether it is stopping.
struct family {
    options& opt;
    const std::shared_ptr<spdlog::logger>& log;
    user_identity who{};
    pid_t supervisor = ::getpid();
    int listen_fd = -1;  ///< the executor's socket
    int filter_fd = -1;  ///< the Docker API filter's socket
    sigset_t handled{};  ///< blocked here, taken by sigwaitinfo
    sigset_t previous{}; ///< the mask before, which every child gets back
    pid_t executor = -1;
    pid_t filter = -1;
    pid_t watcher = -1;
    steady::time_point executor_started{};
    steady::time_point filter_started{};
    // Set by the first SIGTERM/SIGINT (or a configuration error): from then on the watcher is
    // not signalled again, and an executor or filter that exits is not restarted (under
    // KillMode=control-group, or ^C in a terminal, they get the signal too).
    bool stopping = false;
    bool config_error = false;
    int exit_code = 0;
};

/// kill() for a child's pid only: -1 (a child that is gone, or a fork that failed) would signal
/// every process this root supervisor may signal.
void signal_child(pid_t pid, int signo) {
    if (pid > 0) {
        ::kill(pid, signo);
    }
}

/// "signal 15" or "status 2", for the supervisor's log.
std::string exit_text(int status) {
    return WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                               : "status " + std::to_string(WEXITSTATUS(status));
}

/// In a child of the supervisor: SIGKILL when the supervisor dies (SIGKILLed, or aborted by
/// systemd's watchdog), so no executor or watcher outlives it. systemd's KillMode=mixed
/// signals only the main process and the rest only after TimeoutStopSec. Must be called after
/// any uid change, which clears it.
void die_with_supervisor(pid_t supervisor) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) {
        ::_exit(1); // it died before the line above
    }
}

/// Checks that the supervisor can run and creates the sockets its children inherit. Returns 0,
/// or the exit status after logging why not.
int prepare(family& f) {
    if (::geteuid() != 0) {
        f.log->critical("--user needs dockgated to start as root (it forks the ufw executor)");
        return 2;
    }
    std::string why;
    // A missing capability is a configuration error: say so once and exit at once (EX_CONFIG,
    // which the unit does not restart), not an executor that fails capset and is restarted
    // over and over until systemd's start timeout.
    if (!has_firewall_capabilities(&why)) {
        f.log->critical("cannot run the ufw executor: {}", why);
        return EX_CONFIG;
    }
    const auto who = lookup_user(f.opt.run_as, &why);
    if (!who) {
        f.log->critical("--user {}: {}", f.opt.run_as, why);
        return 2;
    }
    f.who = *who;
    f.listen_fd = listen_unix_socket(f.opt.executor_socket, SOCK_SEQPACKET, who->gid, &why);
    if (f.listen_fd < 0) {
        f.log->critical("{}", why);
        return 2;
    }
    // The watcher cannot create sockets under /run/dockgate itself: it inherits this one.
    f.opt.status_fd = listen_unix_socket(f.opt.status_socket, SOCK_STREAM, who->gid, &why);
    if (f.opt.status_fd < 0) {
        f.log->warn("no status view: {}", why);
    }
    // The watcher talks to Docker only through the Docker API filter, on this socket.
    f.filter_fd = listen_unix_socket(f.opt.docker_filter_socket, SOCK_STREAM, who->gid, &why);
    if (f.filter_fd < 0) {
        f.log->critical("{}", why);
        return 2;
    }
    return 0;
}

/// The executor: uid 0 with CAP_NET_ADMIN and CAP_NET_RAW only, the one process running ufw.
pid_t spawn_executor(const family& f) {
    const pid_t pid = ::fork();
    if (pid != 0) {
        return pid;
    }
    // SIGHUP reloads the executor's policy, but its handler comes later: until then a reload
    // must not kill it (the default action).
    std::signal(SIGHUP, SIG_IGN);
    sigprocmask(SIG_SETMASK, &f.previous, nullptr);
    ::close(f.filter_fd); // the Docker API filter's socket is not the executor's to hold
    if (f.opt.status_fd >= 0) {
        ::close(f.opt.status_fd);
    }
    std::string error;
    if (!restrict_to_firewall_capabilities(&error)) {
        f.log->critical("executor: {}", error);
        ::_exit(EX_CONFIG); // the supervisor stops instead of restarting it
    }
    die_with_supervisor(f.supervisor);
    ufw_firewall executor_fw(f.opt.ufw, f.log);
    executor_fw.start_verification();
    // alarm() counts whole seconds: the ufw deadline rounded down, plus the margin (at least
    // 1 s, so that the watchdog never becomes alarm(0), which is none).
    const auto watchdog = std::chrono::duration_cast<std::chrono::seconds>(f.opt.ufw.timeout) +
                          f.opt.executor_watchdog_margin;
    // The executor checks every add against the policy it loads itself, not the watcher's.
    serve_executor(f.listen_fd, executor_fw, f.who.uid, *f.log,
                   {watchdog, f.opt.executor_batch_arrival}, f.opt.policy_path,
                   f.opt.policy_was_builtin);
    ::_exit(1);
}

/// The Docker API filter: uid 0 only to open Docker's socket (root:docker 0660) as its owner,
/// no capability at all.
pid_t spawn_filter(const family& f) {
    const pid_t pid = ::fork();
    if (pid != 0) {
        return pid;
    }
    sigprocmask(SIG_SETMASK, &f.previous, nullptr);
    // Only the supervisor stops it (SIGTERM): ^C and reloads are for the watcher.
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    ::close(f.listen_fd);
    if (f.opt.status_fd >= 0) {
        ::close(f.opt.status_fd);
    }
    std::string error;
    if (!drop_every_capability(&error)) {
        f.log->critical("docker API filter: {}", error);
        ::_exit(2);
    }
    die_with_supervisor(f.supervisor);
    docker_api_proxy_settings settings;
    settings.docker_socket = f.opt.controller.docker.socket_path;
    settings.allowed_uid = f.who.uid;
    ::_exit(serve_docker_api_filter(f.filter_fd, settings, *f.log));
}

/// The watcher: the unprivileged user, no capabilities, Docker through the filter and ufw
/// through the executor.
pid_t spawn_watcher(family& f, policy pol, watcher_main run_watcher) {
    const pid_t pid = ::fork();
    if (pid != 0) {
        return pid;
    }
    sigprocmask(SIG_SETMASK, &f.previous, nullptr);
    ::close(f.listen_fd);
    ::close(f.filter_fd);
    f.opt.controller.docker.socket_path = f.opt.docker_filter_socket;
    std::string error;
    if (!become_user(f.who, &error)) {
        f.log->critical("watcher: {}", error);
        ::_exit(2);
    }
    die_with_supervisor(f.supervisor); // after the uid change, which clears it
    // The executor's reply may take a whole ufw run: wait that long and the margin.
    remote_firewall remote(f.opt.executor_socket, f.opt.ufw.timeout + f.opt.executor_reply_margin);
    ::_exit(run_watcher(f.opt, std::move(pol), remote, f.log));
}

/// A dead executor or filter is started again; a crash loop must not spin, so one that lived
/// less than --child-restart-pause-ms is started again only after that pause.
void restart_child(const family& f, const char* what, int status, pid_t& pid,
                   steady::time_point& started, pid_t (*spawn)(const family&)) {
    f.log->error("{} exited ({}); starting a new one", what, exit_text(status));
    if (steady::now() - started < f.opt.child_restart_pause) {
        std::this_thread::sleep_for(f.opt.child_restart_pause);
    }
    pid = spawn(f);
    started = steady::now();
}

/// SIGTERM, SIGINT and SIGHUP go to the watcher (SIGHUP to the executor too); a second stop
/// signal is not passed on.
void forward_signal(family& f, int signo) {
    if (signo != SIGHUP) {
        if (f.stopping) {
            return;
        }
        f.stopping = true;
    }
    signal_child(f.watcher, signo);
    if (signo == SIGHUP) {
        signal_child(f.executor, SIGHUP); // it reloads the policy it checks adds against
    }
}

/// Reaps every child that exited, restarting the executor or filter unless stopping. Returns
/// true once the watcher is gone (its status is the service's).
bool reap_children(family& f) {
    bool watcher_done = false;
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
        if (pid == f.watcher) {
            watcher_done = true;
            f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        } else if (pid == f.filter && f.stopping) {
            f.log->info("Docker API filter exited ({}) while stopping", exit_text(status));
            f.filter = -1;
        } else if (pid == f.executor && f.stopping) {
            f.log->info("executor exited ({}) while stopping", exit_text(status));
            f.executor = -1;
        } else if (pid == f.executor && WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG) {
            f.log->critical("the executor cannot run (configuration error, see above); stopping");
            f.executor = -1;
            f.stopping = f.config_error = true;
            signal_child(f.watcher, SIGTERM);
        } else if (pid == f.filter) {
            restart_child(f, "Docker API filter", status, f.filter, f.filter_started, spawn_filter);
        } else if (pid == f.executor) {
            restart_child(f, "executor", status, f.executor, f.executor_started, spawn_executor);
        }
    }
    return watcher_done;
}

/// Stops what is left once the watcher is gone and removes the sockets. Returns the exit status.
int shut_down(family& f) {
    if (f.config_error) {
        f.exit_code = EX_CONFIG;
    }
    if (f.executor > 0) {
        ::kill(f.executor, SIGTERM);
        ::waitpid(f.executor, nullptr, 0);
    }
    ::close(f.listen_fd);
    ::unlink(f.opt.executor_socket.c_str());
    ::unlink(f.opt.status_socket.c_str());
    if (f.filter > 0) {
        ::kill(f.filter, SIGTERM);
        ::waitpid(f.filter, nullptr, 0);
    }
    ::close(f.filter_fd);
    ::unlink(f.opt.docker_filter_socket.c_str());
    return f.exit_code;
}

} // namespace

int run_privilege_separated(options& opt, policy pol, const std::shared_ptr<spdlog::logger>& log,
                            watcher_main run_watcher) {
    family f{opt, log};
    if (const int rc = prepare(f); rc != 0) {
        return rc;
    }
    // Taken synchronously (sigwaitinfo), never by a handler; every child restores the mask.
    sigemptyset(&f.handled);
    for (const int signo : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
        sigaddset(&f.handled, signo);
    }
    sigprocmask(SIG_BLOCK, &f.handled, &f.previous);
    f.executor = spawn_executor(f);
    f.executor_started = steady::now();
    f.filter = spawn_filter(f);
    f.filter_started = steady::now();
    f.watcher = spawn_watcher(f, std::move(pol), run_watcher);
    if (f.watcher < 0) {
        log->critical("cannot start the watcher: {}", std::strerror(errno));
        signal_child(f.executor, SIGTERM);
        signal_child(f.filter, SIGTERM);
        return 1;
    }
    log->info("privilege separation: executor pid {} (root, CAP_NET_ADMIN CAP_NET_RAW), Docker API "
              "filter pid {} (uid 0, no capabilities), watcher pid {} (uid {}, no capabilities)",
              f.executor, f.filter, f.watcher, f.who.uid);
    while (true) {
        siginfo_t info{};
        if (sigwaitinfo(&f.handled, &info) < 0) {
            continue;
        }
        if (info.si_signo == SIGTERM || info.si_signo == SIGINT || info.si_signo == SIGHUP) {
            forward_signal(f, info.si_signo);
        } else if (reap_children(f)) {
            break;
        }
    }
    return shut_down(f);
}

} // namespace dockgate::daemon
