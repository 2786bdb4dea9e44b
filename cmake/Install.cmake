# `cmake --install` yields lib/liblowbit.so, include/lowbit/... and lib/cmake/lowbit with
# lowbitConfig.cmake exporting lowbit::lowbit.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LOWBIT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lowbit)

install(TARGETS lowbit EXPORT lowbitTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/lowbit/lowbit.h ${LOWBIT_BUILD_INCLUDE}/lowbit/config.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lowbit)
foreach(dir csrc modules)
  install(DIRECTORY ${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lowbit
    FILES_MATCHING PATTERN "*.h" PATTERN "cli" EXCLUDE)
endforeach()
install(EXPORT lowbitTargets NAMESPACE lowbit:: DESTINATION ${LOWBIT_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/lowbitConfig.cmake.in ${CMAKE_BINARY_DIR}/lowbitConfig.cmake
  INSTALL_DESTINATION ${LOWBIT_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/lowbitConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/lowbitConfig.cmake ${CMAKE_BINARY_DIR}/lowbitConfigVersion.cmake
  DESTINATION ${LOWBIT_INSTALL_CMAKEDIR})
