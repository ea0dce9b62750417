# Read after Debian's wasi-libc Makefile (make -f Makefile -f this file) when cli/threads.ts
# builds that source package (0.0~git20220510) with THREAD_MODEL=posix. The posix model was
# unfinished in that release: with -pthread (which defines _REENTRANT) musl's
# arch/wasm32/atomic_arch.h and four bottom-half files stop with #error, and two cloudlibc files
# use a macro whose header they do not include. These target-specific flags are the narrowest
# changes that let the unmodified sources build as one thread-capable library:
#
# - Every object is still compiled with -mthread-model posix -pthread: real atomics, real
#   thread-local storage (errno, and the buffers of posix.c and arc4random.c, are per thread)
#   and the shared-memory target features that wasm-ld's --shared-memory requires.
# - musl's top half is compiled without _REENTRANT, as the single-threaded model compiles it:
#   its stdio takes no FILE locks (threads writing one stream at once must lock it themselves;
#   docs/c.md, "Threads").
# - chdir.c, getcwd.c, preopens.c, getentropy.c likewise: the preopened directories are
#   registered by the start-up code before any thread exists; getentropy's complaint is about
#   cancellation points, and these threads cannot be cancelled; the current directory is one
#   unsynchronised string, so no thread may call chdir while another resolves a relative path.
# - nanosleep.c and _Exit.c get cloudlibc's _/cdefs.h, where __strong_reference is defined.
# - dlmalloc keeps _REENTRANT: it then takes its own lock (USE_LOCKS) around every call.
SINGLE_THREADED_OBJS = $(LIBC_TOP_HALF_ALL_OBJS) $(MUSL_PRINTSCAN_LONG_DOUBLE_OBJS) \
  $(MUSL_PRINTSCAN_NO_FLOATING_POINT_OBJS) $(LIBWASI_EMULATED_SIGNAL_MUSL_OBJS) \
  $(OBJDIR)/libc-bottom-half/sources/chdir.o $(OBJDIR)/libc-bottom-half/sources/getcwd.o \
  $(OBJDIR)/libc-bottom-half/sources/preopens.o $(OBJDIR)/libc-bottom-half/sources/getentropy.o
$(SINGLE_THREADED_OBJS): CFLAGS += -U_REENTRANT
$(OBJDIR)/libc-bottom-half/cloudlibc/src/libc/time/nanosleep.o: CFLAGS += -include _/cdefs.h
$(OBJDIR)/libc-bottom-half/cloudlibc/src/libc/stdlib/_Exit.o: CFLAGS += -include _/cdefs.h
