// Capability and identity changes for the executor/watcher split, with raw syscalls (no libcap).
#include "dockgate/privsep/privsep.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

namespace dockgate {
namespace {

bool fail(std::string* why, const std::string& what) {
    *why = what + ": " + std::strerror(errno);
    return false;
}

int last_capability() {
    // /proc/sys/kernel/cap_last_cap is authoritative; CAP_LAST_CAP is only the build's view.
    int last = CAP_LAST_CAP;
    if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
        if (std::fscanf(f, "%d", &last) != 1) {
            last = CAP_LAST_CAP;
        }
        std::fclose(f);
    }
    return last;
}

bool drop_bounding_except(unsigned long long keep_mask, std::string* why) {
    for (int cap = 0; cap <= last_capability(); ++cap) {
        if ((keep_mask & (1ULL << static_cast<unsigned>(cap))) != 0) {
            continue;
        }
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
            return fail(why, "PR_CAPBSET_DROP " + std::to_string(cap));
        }
    }
    return true;
}

bool set_capabilities(unsigned long long mask, std::string* why) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> data{};
    for (auto& d : data) {
        const auto bits = static_cast<std::uint32_t>(mask & 0xffffffffULL);
        d.effective = d.permitted = d.inheritable = bits;
        mask >>= 32U;
    }
    if (::syscall(SYS_capset, &header, data.data()) != 0) {
        return fail(why, "capset");
    }
    return true;
}

} // namespace

std::optional<user_identity> lookup_user(const std::string& user, std::string* why) {
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        *why = "no such user \"" + user + "\"";
        return std::nullopt;
    }
    if (pw->pw_uid == 0) {
        *why = "the watcher must not run as root";
        return std::nullopt;
    }
    // No supplementary groups: membership of docker (or any group owning something
    // privileged) is exactly what the watcher must not have.
    return user_identity{pw->pw_uid, pw->pw_gid, {pw->pw_gid}};
}

bool restrict_to_firewall_capabilities(std::string* why) {
    const unsigned long long keep = (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_RAW);
    if (!drop_bounding_except(keep, why) || !set_capabilities(keep, why)) {
        return false;
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return fail(why, "PR_SET_NO_NEW_PRIVS");
    }
    return true;
}

bool has_firewall_capabilities(std::string* why) {
    // The executor keeps CAP_NET_ADMIN and CAP_NET_RAW; capset cannot add what the supervisor
    // has not got (a unit's CapabilityBoundingSet= without them, or a dropped bounding set).
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> data{};
    if (::syscall(SYS_capget, &header, data.data()) != 0) {
        return fail(why, "capget");
    }
    std::string missing;
    for (const auto& [cap, name] :
         {std::pair{CAP_NET_ADMIN, "CAP_NET_ADMIN"}, std::pair{CAP_NET_RAW, "CAP_NET_RAW"}}) {
        if ((data[0].permitted & (1U << static_cast<unsigned>(cap))) == 0 ||
            ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) {
            missing += missing.empty() ? name : std::string(" ") + name;
        }
    }
    if (!missing.empty()) {
        *why = "missing capability " + missing +
               " (the ufw executor needs CAP_NET_ADMIN and CAP_NET_RAW in the permitted and "
               "bounding sets: check the unit's CapabilityBoundingSet=)";
        return false;
    }
    return true;
}

bool drop_every_capability(std::string* why) {
    if (!drop_bounding_except(0, why) || !set_capabilities(0, why)) {
        return false;
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return fail(why, "PR_SET_NO_NEW_PRIVS");
    }
    return true;
}

bool become_user(const user_identity& who, std::string* why) {
    if (!drop_bounding_except(0, why)) {
        return false;
    }
    if (::setgroups(who.groups.size(), who.groups.data()) != 0) {
        return fail(why, "setgroups");
    }
    if (::setresgid(who.gid, who.gid, who.gid) != 0) {
        return fail(why, "setresgid");
    }
    // Leaving uid 0 clears the permitted, effective and ambient sets (no SECBIT_KEEP_CAPS).
    if (::setresuid(who.uid, who.uid, who.uid) != 0) {
        return fail(why, "setresuid");
    }
    if (!set_capabilities(0, why)) {
        return false;
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return fail(why, "PR_SET_NO_NEW_PRIVS");
    }
    return true;
}

int listen_unix_socket(const std::string& path, int type, gid_t group, std::string* why) {
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    // Only a directory made here gets dockgate's mode and owner: an existing one may be shared
    // (/run, /tmp) or the admin's, and is left as it is.
    if (::mkdir(dir.c_str(), 0750) == 0) {
        if (::chown(dir.c_str(), 0, group) != 0 || ::chmod(dir.c_str(), 0750) != 0) {
            fail(why, "preparing " + dir.string());
            return -1;
        }
    } else if (errno != EEXIST) {
        fail(why, "creating " + dir.string());
        return -1;
    }
    // A stale socket from an earlier run is replaced; anything else there is not ours to delete.
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) {
            *why = "refusing to replace " + path + ": it exists and is not a socket";
            return -1;
        }
        ::unlink(path.c_str());
    } else if (errno != ENOENT) {
        fail(why, "checking " + path);
        return -1;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
        *why = "socket path too long";
        return -1;
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::chown(path.c_str(), 0, group) != 0 || ::chmod(path.c_str(), 0660) != 0 ||
        ::listen(fd, 4) != 0) {
        fail(why, "socket " + path);
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    return fd;
}

} // namespace dockgate
