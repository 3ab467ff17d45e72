"""Finds libseptet.so and declares the C API's prototypes (include/septet/septet_c.h)."""
import ctypes
import os
import sys

ABI_VERSION = 1  # SEPTET_C_ABI_VERSION this binding was written for

c_status = ctypes.c_int
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_size_p = ctypes.POINTER(ctypes.c_size_t)
TEXT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


class ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("tokenizer_path", ctypes.c_char_p),
                ("compute_type", ctypes.c_char_p)]


class ContextParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_ctx", ctypes.c_int32), ("n_threads", ctypes.c_int32),
                ("backend", ctypes.c_char_p)]


class SamplerParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("temperature", ctypes.c_float), ("top_k", ctypes.c_int32),
                ("top_p", ctypes.c_float), ("min_p", ctypes.c_float), ("repeat_penalty", ctypes.c_float),
                ("repeat_window", ctypes.c_int32), ("seed", ctypes.c_uint64)]


class GenerateParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("max_tokens", ctypes.c_int32), ("stop_at_eos", ctypes.c_int32),
                ("sampler", ctypes.POINTER(SamplerParams))]


def _candidates():
    env = os.environ.get("SEPTET_LIB")
    if env:
        return [env], True
    names = ["libseptet.so", "libseptet.so.%d" % ABI_VERSION]
    dirs = []
    prefix = os.environ.get("SEPTET_PREFIX")
    if prefix:
        dirs += [os.path.join(prefix, "lib"), os.path.join(prefix, "lib64")]
    dirs += [os.path.join(sys.prefix, "lib"), "/usr/local/lib"]
    paths = [os.path.join(d, n) for d in dirs for n in names if os.path.exists(os.path.join(d, n))]
    return paths + ["libseptet.so.%d" % ABI_VERSION, "libseptet.so"], False


def load():
    paths, from_env = _candidates()
    errors = []
    lib = None
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
            break
        except OSError as e:
            errors.append("%s: %s" % (p, e))
            if from_env:  # an explicit SEPTET_LIB is the only candidate
                break
    if lib is None:
        raise OSError("septet: cannot load libseptet.so (set SEPTET_LIB to its path, or SEPTET_PREFIX to the "
                      "install prefix); tried:\n  " + "\n  ".join(errors))
    _declare(lib)
    if lib.septet_abi_version() != ABI_VERSION:
        raise OSError("septet: %s has C ABI %d, this binding needs %d" % (p, lib.septet_abi_version(), ABI_VERSION))
    return lib


def _declare(lib):
    vp = ctypes.c_void_p
    pp = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "septet_abi_version": (ctypes.c_uint32, []),
        "septet_version": (ctypes.c_char_p, []),
        "septet_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "septet_last_error": (ctypes.c_char_p, []),
        "septet_model_options_init": (None, [ctypes.POINTER(ModelOptions)]),
        "septet_model_load": (c_status, [ctypes.c_char_p, ctypes.POINTER(ModelOptions), pp]),
        "septet_model_free": (c_status, [vp]),
        "septet_model_vocab_size": (c_status, [vp, c_int32_p]),
        "septet_model_bos": (c_status, [vp, c_int32_p]),
        "septet_model_eos": (c_status, [vp, c_int32_p]),
        "septet_tokenize": (c_status, [vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, c_int32_p,
                                       ctypes.c_size_t, c_size_p]),
        "septet_detokenize": (c_status, [vp, c_int32_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, c_size_p]),
        "septet_context_params_init": (None, [ctypes.POINTER(ContextParams)]),
        "septet_context_create": (c_status, [vp, ctypes.POINTER(ContextParams), pp]),
        "septet_context_free": (c_status, [vp]),
        "septet_context_n_ctx": (c_status, [vp, ctypes.POINTER(ctypes.c_int64)]),
        "septet_context_n_past": (c_status, [vp, ctypes.POINTER(ctypes.c_int64)]),
        "septet_context_truncate": (c_status, [vp, ctypes.c_int64]),
        "septet_eval": (c_status, [vp, c_int32_p, ctypes.c_size_t]),
        "septet_get_logits": (c_status, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, c_size_p]),
        "septet_sampler_params_init": (None, [ctypes.POINTER(SamplerParams)]),
        "septet_generate_params_init": (None, [ctypes.POINTER(GenerateParams)]),
        "septet_generate": (c_status, [vp, c_int32_p, ctypes.c_size_t, ctypes.POINTER(GenerateParams), TEXT_CALLBACK,
                                       vp, c_int32_p, ctypes.c_size_t, c_size_p, ctypes.POINTER(ctypes.c_int)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
