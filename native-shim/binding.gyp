{
  "targets": [
    {
      "target_name": "tsfuse_shim",
      "sources": ["shim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
