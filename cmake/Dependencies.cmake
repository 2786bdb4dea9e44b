# LibTorch: the PyPI wheel's share/cmake/Torch (scripts/setup), or any other through
# Torch_DIR / CMAKE_PREFIX_PATH. A CUDA build of LibTorch compiles device code for the
# architectures in TORCH_CUDA_ARCH_LIST; lowbit's default is A100 and H100/H200.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "lowbit: LibTorch from ${Torch_DIR}")

# CUDA kernels compile whenever nvcc is present, and are linked and dispatched to only when
# the LibTorch in use is a CUDA build.
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  if(NOT TARGET torch_cuda AND NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(LOWBIT_HAVE_NVCC ON)
endif()
if(TARGET torch_cuda AND LOWBIT_HAVE_NVCC)
  set(LOWBIT_WITH_CUDA ON)
endif()
message(STATUS "lowbit: nvcc found: ${LOWBIT_HAVE_NVCC}; CUDA kernels linked: ${LOWBIT_WITH_CUDA}")

# Without FP traps GCC may if-convert the compares of the element-wise kernels (|x| <= 1 ? ..)
# and vectorise them: 16x faster on random data. lowbit never relies on FP exceptions.
set(LOWBIT_CXX_CODEGEN_FLAGS -fno-trapping-math)

# Executables reuse the library's precompiled header, which needs the same code generation
# flags, and the same code model: -fPIC rather than the -fPIE executables get by default.
function(lowbit_reuse_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${target} PRIVATE -fPIC ${LOWBIT_CXX_CODEGEN_FLAGS})
  target_precompile_headers(${target} REUSE_FROM lowbit)
endfunction()
