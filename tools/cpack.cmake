# The Debian package: `cpack -G DEB` in a build tree (tools/package_test.sh builds one the way a
# packager would: Release, dpkg-buildflags, -DBUILD_TESTING=OFF). Depends comes from the shared
# libraries the binary links (dpkg-shlibdeps); Lua and lua-cjson are inside the binary.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME salesengine)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "salesengine maintainers <salesengine@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Lua-scriptable ETL engine: HTTP APIs into PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION
    "salesengine runs pipelines written in Lua 5.4: it fetches JSON from HTTP APIs\n\
with retries (libcurl), transforms each record with a Lua function, and upserts\n\
the rows into PostgreSQL in batches (libpq), idempotently. Rejected records go\n\
to a dead-letter table with their reason. Runs are logged in logfmt or JSON and\n\
can write a summary and Prometheus metrics for schedulers.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# HTTPS needs the CA certificates; libcurl4 only recommends them
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_SET_DESTDIR OFF)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# directories 0755 (lintian: non-standard-dir-perm)
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
    GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# What Debian policy asks of every package: the copyright file and a compressed changelog,
# and manual pages compressed (gzip -9n: reproducible).
set(SE_DEBIAN_GZ ${PROJECT_BINARY_DIR}/debian-gz)
configure_file(tools/debian/changelog.in ${SE_DEBIAN_GZ}/changelog @ONLY)
foreach(pair "${SE_DEBIAN_GZ}/changelog;changelog.Debian.gz" "${PROJECT_SOURCE_DIR}/docs/salesengine.1;salesengine.1.gz")
  list(GET pair 0 src)
  list(GET pair 1 out)
  add_custom_command(OUTPUT ${SE_DEBIAN_GZ}/${out} COMMAND gzip -9nc ${src} > ${SE_DEBIAN_GZ}/${out}
                     DEPENDS ${src})
  list(APPEND SE_DEBIAN_GZ_FILES ${SE_DEBIAN_GZ}/${out})
endforeach()
add_custom_target(debian_gz ALL DEPENDS ${SE_DEBIAN_GZ_FILES})
install(FILES ${SE_DEBIAN_GZ}/changelog.Debian.gz tools/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${SE_DEBIAN_GZ}/salesengine.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT deb EXCLUDE_FROM_ALL)
# one package of the runtime files and the Debian ones (not the uncompressed manual page)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
include(CPack)
