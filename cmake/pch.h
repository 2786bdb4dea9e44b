// Precompiled for every lowbit target: the LibTorch headers nearly every file needs.
#include <torch/torch.h>
