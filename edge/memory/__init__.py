"""How frames use memory: glibc malloc tuning (allocator), shared-memory frames (shm,
shm_output). Imports nothing here, so edge.bus can use shm without a circle."""
