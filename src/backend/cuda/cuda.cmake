# CUDA backend extras, included by the top-level CMakeLists.txt after the
# `ingot` target exists:   include(src/backend/cuda/cuda.cmake)
# - cuBLAS for the prefill (n > 8 tokens) matrix products on tensor cores;
#   without it the backend loops its matrix-vector kernels instead.
# - bench_cuda_ops: matrix-vector micro-benchmark (not a test).
option(INGOT_CUDA_TRACE "Record a kernel timeline in every CUDA kernel (bench_cuda_ops prints it; costs decode speed)" OFF)
if(INGOT_HAVE_CUDA)
  if(INGOT_CUDA_TRACE)
    target_compile_definitions(ingot PUBLIC INGOT_CUDA_TRACE=1)
  endif()
  if(TARGET CUDA::cublas)
    target_link_libraries(ingot PUBLIC CUDA::cublas)
    target_compile_definitions(ingot PRIVATE INGOT_HAVE_CUBLAS=1)
  endif()
  if(EXISTS ${PROJECT_SOURCE_DIR}/bench/cuda/bench_ops.cu)
    add_executable(bench_cuda_ops ${PROJECT_SOURCE_DIR}/bench/cuda/bench_ops.cu ${PROJECT_SOURCE_DIR}/bench/cuda/mega.cu)
    target_include_directories(bench_cuda_ops PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(bench_cuda_ops PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--use_fast_math -O3>)
    target_link_libraries(bench_cuda_ops PRIVATE ingot)
  endif()
endif()
