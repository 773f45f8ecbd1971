// Privilege separation primitives: process identities, capability dropping, the executor socket.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dockgate {

/// Who the watcher runs as: an unprivileged user with its primary group only. It reaches
/// Docker through the Docker API filter's socket, never Docker's own.
struct user_identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

/// Looks up `user`; `groups` is its primary group alone, whatever /etc/group says (a leftover
/// membership of the docker group would hand the watcher root through the Engine API).
/// Returns nullopt with `why` set when the user is unknown or is root.
std::optional<user_identity> lookup_user(const std::string& user, std::string* why);

/// For the executor: keep uid 0 but shrink every capability set (bounding included) to
/// CAP_NET_ADMIN and CAP_NET_RAW, and set no_new_privs. Returns false with `why` on failure.
bool restrict_to_firewall_capabilities(std::string* why);

/// For the supervisor, before it forks: true if this process has CAP_NET_ADMIN and CAP_NET_RAW
/// in its permitted and bounding sets, which the executor keeps. Otherwise false with `why`
/// naming what is missing: a configuration error, not something a restart can fix.
bool has_firewall_capabilities(std::string* why);

/// For the Docker API filter: keep uid 0 (it opens Docker's socket as its owner) but empty
/// every capability set, bounding included, and set no_new_privs. Returns false with `why`.
bool drop_every_capability(std::string* why);

/// For the watcher: empty the bounding set, switch to `who` (groups, gid, uid) and set
/// no_new_privs, leaving every capability set empty. Returns false with `why` on failure.
bool become_user(const user_identity& who, std::string* why);

/// Creates a listening unix socket of `type` (SOCK_SEQPACKET for the executor, SOCK_STREAM
/// for the status view) at `path`, owned root:`group`, mode 0660: only root and the daemon's
/// group can connect. A missing parent directory is created 0750 root:`group`; an existing one
/// keeps its mode and owner. An old socket at `path` is replaced, anything else there is
/// refused. Returns the fd or -1 with `why`.
int listen_unix_socket(const std::string& path, int type, gid_t group, std::string* why);

} // namespace dockgate
