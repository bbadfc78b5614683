/* Built instead of the CUDA backend when nvcc was not found. */
#include "backend/backend.h"
#include "core/util.h"

bool ig_backend_cuda_compiled(void) { return false; }

ingot_status ig_backend_cuda_new(int device, ig_backend **out) {
    (void)device;
    *out = NULL;
    return ig_err(INGOT_ERR_BACKEND, "ingot was built without CUDA");
}
