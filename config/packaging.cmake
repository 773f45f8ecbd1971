# Install layout (`cmake --install`) and the Debian package (`cpack -G DEB` in the build dir).
# Included at the end of the top-level CMakeLists.txt. daemon/CMakeLists.txt installs dockgated
# into sbin; everything else that is installed is listed here.
#
#   <prefix>/sbin/dockgated                        (daemon/CMakeLists.txt)
#   <prefix>/lib/systemd/system/dockgated.service
#   <prefix>/share/doc/dockgate/README.md
#   <prefix>/share/dockgate/policy.json.example
#   /etc/dockgate/policy.json                      only when none exists yet (never overwritten)

# A system daemon: the unit's ExecStart=, its Documentation= and the daemon's defaults all say /usr
# and /etc, so the prefix defaults to /usr. An explicit -DCMAKE_INSTALL_PREFIX=... or
# `cmake --install BUILD --prefix ...` still wins (the package always uses /usr). Build dirs
# configured before this default existed keep the /usr/local they cached.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install path prefix (dockgate defaults to /usr)" FORCE)
endif()
include(GNUInstallDirs)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "dockgate: install prefix is ${CMAKE_INSTALL_PREFIX}; systemd/dockgated.service "
                 "still runs /usr/sbin/dockgated (ExecStart=)")
endif()

install(FILES ${PROJECT_SOURCE_DIR}/systemd/dockgated.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/config/policy.json DESTINATION ${CMAKE_INSTALL_DATADIR}/dockgate
        RENAME policy.json.example)

# The admin's policy: installed only if there is none, so a reinstall never replaces an edited
# file. file(INSTALL) prepends $ENV{DESTDIR} itself; the existence check has to do it by hand.
# cpack installs into an empty DESTDIR, so the package always carries the file (and dpkg then
# guards it as a conffile, see config/debian/conffiles).
install(CODE "set(dockgate_example_policy \"${PROJECT_SOURCE_DIR}/config/policy.json\")")
install(CODE [[
  if(EXISTS "$ENV{DESTDIR}/etc/dockgate/policy.json")
    message(STATUS "Keeping: $ENV{DESTDIR}/etc/dockgate/policy.json (not overwritten; the new "
                   "example is in share/dockgate/policy.json.example)")
  else()
    file(INSTALL DESTINATION "/etc/dockgate" TYPE FILE FILES "${dockgate_example_policy}"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
]])

# ---- Debian package ------------------------------------------------------------------------
set(DOCKGATE_DEB_MAINTAINER "dockgate maintainers <maintainers@users.noreply.r-seed-18767b3f.example>"
    CACHE STRING "Maintainer field of the .deb")

set(CPACK_VERBATIM_VARIABLES TRUE)   # CPACK_* values reach cpack exactly as written here
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dockgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${DOCKGATE_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debian ships stripped binaries; the build tree keeps its debug info.
set(CPACK_STRIP_FILES TRUE)
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/")   # make package_source

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # dockgate_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DOCKGATE_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The synopsis line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; cpack puts it in front of this.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "dockgated watches the Docker Engine and keeps one ufw route rule per exposed
container port, so that on an IPv6 host with ufw's default deny-routed policy
only what container labels (fw.allow=...) ask for, and an admin policy
(/etc/dockgate/policy.json) allows, is reachable. Rules follow containers as
they start, stop, change networks or addresses; rules it does not own are
never touched.")
# The libraries dockgated links (dpkg-shlibdeps), plus what the package scripts and the
# daemon run: adduser (postinst), ufw, and a Docker Engine.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ufw, docker.io | docker-ce")
# Maintainer scripts and the conffile list, with the permissions dpkg expects (0755 / 0644).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/config/debian/conffiles
    ${PROJECT_SOURCE_DIR}/config/debian/postinst
    ${PROJECT_SOURCE_DIR}/config/debian/prerm
    ${PROJECT_SOURCE_DIR}/config/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
