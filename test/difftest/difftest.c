/*
 * The differential tester's guest: one program, built twice.
 *
 *   gcc -O2 difftest.c                         native x86-64, raw Linux system calls
 *   clang-16 --target=wasm32-wasi -O2 ...      wasm32, the "mman" imports (docs/abi.md)
 *
 * Both builds run the same call sequences (random ones from a seed, or the directed cases at
 * the end of this file) and print the same lines; test/difftest/runner.ts compares them. Every
 * length and offset is expressed in libc pages U (4096 natively, the host's page size in wasm),
 * and every address relative to one region R that the program reserves at start-up:
 *
 *   R: | G0 | arena: ARENA pages           | G1 | zone: slot 0 X, slot 0 Y, slot 1 X, ... | top |
 *        guard  fixed addresses, holes,     guard  mappings placed "anywhere" are moved here
 *               neighbours                         (each slot has two regions, X and Y)
 *
 * Where mmap(NULL) or a moving mremap lands is placement policy, which legitimately differs
 * between Linux (highest free gap, top-down) and the host (best-fitting free run). So a mapping
 * placed anywhere is at once moved, with mremap(MREMAP_MAYMOVE|MREMAP_FIXED), to the first
 * region of the lowest free slot that it does not overlap, and is then named F<slot>. Natively
 * such mappings land in `top` (the highest gap); in wasm anywhere, arena holes included, which
 * is why the move comes first. Everything printed is relative: A+3 is arena page 3, F1+2 the
 * third page of slot 1's mapping.
 *
 * After every call the program prints the state: for each arena and slot page whether it is
 * mapped (msync(MS_ASYNC) of that page: 0 or ENOMEM, the same probe on both sides) and what it
 * holds. A page written by the program carries a tag in its first word and a pattern derived
 * from it in the rest, so a page reads back as z (zeros), <gen>.<n> (a tag), ? (anything else),
 * ! (the read faulted: SIGSEGV or SIGBUS, native only), - (not readable by its protection),
 * L (after MADV_FREE: zeros or a tag, both correct), g (a guard page), . (not mapped),
 * u (mapped where the model expected nothing).
 *
 * To know what it may read, the program keeps a small model of each page (protection, shared
 * or private, which mmap created it, the advice it was given): updated from the results of the
 * calls, by Linux's rules (mprotect changes the mappings before a hole, madvise every mapping
 * around holes, before they answer ENOMEM). The
 * model also annotates each call ({ids=2 holes=1 ...}) so that the runner can name the kind
 * of a divergence. It decides nothing that is compared.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Values from the kernel's include/uapi/asm-generic/mman-common.h, asm-generic/mman.h and
 * linux/mman.h (identical on x86-64 and in the mman ABI), errno from asm-generic/errno*.h. */
#define PROT_NONE_ 0x0
#define PROT_READ_ 0x1
#define PROT_WRITE_ 0x2
#define PROT_EXEC_ 0x4
#define PROT_SEM_ 0x8
#define PROT_GROWSDOWN_ 0x01000000
#define PROT_GROWSUP_ 0x02000000

#define MAP_SHARED_ 0x01
#define MAP_PRIVATE_ 0x02
#define MAP_SHARED_VALIDATE_ 0x03
#define MAP_DROPPABLE_ 0x08 /* a map type since Linux 6.11 */
#define MAP_TYPE_ 0x0f
#define MAP_FIXED_ 0x10
#define MAP_ANONYMOUS_ 0x20
#define MAP_GROWSDOWN_ 0x0100
#define MAP_DENYWRITE_ 0x0800
#define MAP_EXECUTABLE_ 0x1000
#define MAP_LOCKED_ 0x2000
#define MAP_NORESERVE_ 0x4000
#define MAP_POPULATE_ 0x8000
#define MAP_NONBLOCK_ 0x10000
#define MAP_STACK_ 0x20000
#define MAP_HUGETLB_ 0x40000
#define MAP_SYNC_ 0x80000
#define MAP_FIXED_NOREPLACE_ 0x100000
#define MAP_UNKNOWN_BIT_ 0x800000 /* no meaning in asm-generic nor on x86 */
#define MAP_UNINITIALIZED_ 0x4000000

#define MREMAP_MAYMOVE_ 1
#define MREMAP_FIXED_ 2
#define MREMAP_DONTUNMAP_ 4

#define MS_ASYNC_ 1
#define MS_INVALIDATE_ 2
#define MS_SYNC_ 4

enum {
  MADV_NORMAL_ = 0, MADV_RANDOM_ = 1, MADV_SEQUENTIAL_ = 2, MADV_WILLNEED_ = 3, MADV_DONTNEED_ = 4,
  MADV_FREE_ = 8, MADV_REMOVE_ = 9, MADV_DONTFORK_ = 10, MADV_DOFORK_ = 11, MADV_MERGEABLE_ = 12,
  MADV_UNMERGEABLE_ = 13, MADV_HUGEPAGE_ = 14, MADV_NOHUGEPAGE_ = 15, MADV_DONTDUMP_ = 16,
  MADV_DODUMP_ = 17, MADV_WIPEONFORK_ = 18, MADV_KEEPONFORK_ = 19, MADV_COLD_ = 20,
  MADV_PAGEOUT_ = 21, MADV_POPULATE_READ_ = 22, MADV_POPULATE_WRITE_ = 23,
  MADV_DONTNEED_LOCKED_ = 24, MADV_COLLAPSE_ = 25,
  /* Linux 6.13. MADV_HWPOISON 100 and MADV_SOFT_OFFLINE 101 are left out on purpose: they need
   * CAP_SYS_ADMIN and take real memory out of service. */
  MADV_GUARD_INSTALL_ = 102, MADV_GUARD_REMOVE_ = 103,
};

typedef int64_t sres; /* a call's result: an address, 0, or -errno in [-4095, -1] */

static int is_err(sres r) { return r < 0 && r >= -4095; }

/* ---------------------------------------------------------------------------------------- */
/* The two platforms: system calls, output, faults. */

#ifdef __wasm__
#include <unistd.h>

#define MMAN(name) __attribute__((import_module("mman"), import_name(name)))
MMAN("mmap") int32_t mman_mmap(uint32_t, uint32_t, int32_t, int32_t, int32_t, int64_t);
MMAN("munmap") int32_t mman_munmap(uint32_t, uint32_t);
MMAN("mremap") int32_t mman_mremap(uint32_t, uint32_t, uint32_t, int32_t, uint32_t);
MMAN("madvise") int32_t mman_madvise(uint32_t, uint32_t, int32_t);
MMAN("mprotect") int32_t mman_mprotect(uint32_t, uint32_t, int32_t);
MMAN("msync") int32_t mman_msync(uint32_t, uint32_t, int32_t);
MMAN("pagesize") int32_t mman_pagesize(void);

/* An i32 result: -4095..-1 is an error, anything else an unsigned address (docs/abi.md). */
static sres from32(int32_t r) {
  uint32_t u = (uint32_t)r;
  return u >= 0xFFFFF001u ? (sres)r : (sres)u;
}
static sres sys_mmap(uintptr_t a, size_t len, int prot, int flags, int fd, int64_t off) {
  return from32(mman_mmap(a, len, prot, flags, fd, off));
}
static sres sys_munmap(uintptr_t a, size_t len) { return from32(mman_munmap(a, len)); }
static sres sys_mremap(uintptr_t a, size_t ol, size_t nl, int flags, uintptr_t na) {
  return from32(mman_mremap(a, ol, nl, flags, na));
}
static sres sys_madvise(uintptr_t a, size_t len, int advice) { return from32(mman_madvise(a, len, advice)); }
static sres sys_mprotect(uintptr_t a, size_t len, int prot) { return from32(mman_mprotect(a, len, prot)); }
static sres sys_msync(uintptr_t a, size_t len, int flags) { return from32(mman_msync(a, len, flags)); }
static size_t platform_page_size(void) { return (size_t)(uint32_t)mman_pagesize(); }
static void platform_write(const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(1, buf, len);
    if (n <= 0) return;
    buf += n;
    len -= (size_t)n;
  }
}
static void platform_init(void) {}
/* Wasm has no faults: a guarded access simply runs. */
static int guarded(void (*fn)(void *), void *arg) {
  fn(arg);
  return 0;
}

#else /* native x86-64 */
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Raw system calls, so that no libc wrapper stands between the program and the kernel (and the
 * result is the kernel's -errno, as the mman imports return it). */
static long raw6(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
static sres sys_mmap(uintptr_t a, size_t len, int prot, int flags, int fd, int64_t off) {
  return raw6(SYS_mmap, (long)a, (long)len, prot, flags, fd, (long)off);
}
static sres sys_munmap(uintptr_t a, size_t len) { return raw6(SYS_munmap, (long)a, (long)len, 0, 0, 0, 0); }
static sres sys_mremap(uintptr_t a, size_t ol, size_t nl, int flags, uintptr_t na) {
  return raw6(SYS_mremap, (long)a, (long)ol, (long)nl, flags, (long)na, 0);
}
static sres sys_madvise(uintptr_t a, size_t len, int advice) { return raw6(SYS_madvise, (long)a, (long)len, advice, 0, 0, 0); }
static sres sys_mprotect(uintptr_t a, size_t len, int prot) { return raw6(SYS_mprotect, (long)a, (long)len, prot, 0, 0, 0); }
static sres sys_msync(uintptr_t a, size_t len, int flags) { return raw6(SYS_msync, (long)a, (long)len, flags, 0, 0, 0); }
static size_t platform_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static void platform_write(const char *buf, size_t len) {
  while (len > 0) {
    long n = raw6(SYS_write, 1, (long)buf, (long)len, 0, 0, 0);
    if (n <= 0) return;
    buf += n;
    len -= (size_t)n;
  }
}

/* Reading a page the model thinks readable can still fault natively (a guard page, a shared
 * anonymous page past the end of its object after mremap: SIGBUS). The access is then
 * abandoned and reported, and the sequence goes on. */
static sigjmp_buf fault_jump;
static volatile sig_atomic_t fault_armed;
static void on_fault(int sig) {
  if (fault_armed) siglongjmp(fault_jump, sig);
  _exit(99);
}
static void platform_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
}
/* Runs fn(arg); returns 1 if it faulted. */
static int guarded(void (*fn)(void *), void *arg) {
  if (sigsetjmp(fault_jump, 1) != 0) {
    fault_armed = 0;
    return 1;
  }
  fault_armed = 1;
  fn(arg);
  fault_armed = 0;
  return 0;
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* Output: one buffer, plain formatting (no stdio, so no allocation of its own). */

/* A small string builder for tokens. */
struct sbuf {
  char s[64];
  int n;
};
static void sb_str(struct sbuf *b, const char *s) {
  while (*s && b->n < (int)sizeof b->s - 1) b->s[b->n++] = *s++;
  b->s[b->n] = 0;
}
static void sb_u(struct sbuf *b, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n && b->n < (int)sizeof b->s - 1) b->s[b->n++] = tmp[--n];
  b->s[b->n] = 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* A decimal or 0x-hexadecimal number, optionally negative; advances *p past it. */
static long parse_number(const char **p) {
  const char *s = *p;
  long v = 0;
  int neg = *s == '-';
  if (neg) s++;
  if (s[0] == '0' && s[1] == 'x') {
    s += 2;
    for (;;) {
      char c = *s;
      int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      s++;
    }
  } else {
    while (is_digit(*s)) v = v * 10 + (*s++ - '0');
  }
  *p = s;
  return neg ? -v : v;
}
static long parse_long(const char *s) { return parse_number(&s); }

static char out_buf[1 << 16];
static size_t out_len;

static void flush_out(void) {
  platform_write(out_buf, out_len);
  out_len = 0;
}
static void put_str(const char *s) {
  size_t n = strlen(s);
  if (out_len + n > sizeof out_buf) flush_out();
  memcpy(out_buf + out_len, s, n);
  out_len += n;
}
static void put_char(char c) {
  if (out_len + 1 > sizeof out_buf) flush_out();
  out_buf[out_len++] = c;
}
static void put_u64(uint64_t v) {
  struct sbuf b = {{0}, 0};
  sb_u(&b, v);
  put_str(b.s);
}
static void put_i64(int64_t v) {
  if (v < 0) {
    put_char('-');
    put_u64((uint64_t)0 - (uint64_t)v);
  } else {
    put_u64((uint64_t)v);
  }
}
static void put_hex(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = digits[v & 15];
    v >>= 4;
  } while (v);
  put_str("0x");
  while (n) put_char(tmp[--n]);
}
static void end_line(void) {
  put_char('\n');
  if (out_len > sizeof out_buf - 4096) flush_out();
}

/* ---------------------------------------------------------------------------------------- */
/* Names. */

static const char *errno_name(int e) {
  switch (e) {
    case 1: return "EPERM";
    case 2: return "ENOENT";
    case 4: return "EINTR";
    case 5: return "EIO";
    case 9: return "EBADF";
    case 11: return "EAGAIN";
    case 12: return "ENOMEM";
    case 13: return "EACCES";
    case 14: return "EFAULT";
    case 16: return "EBUSY";
    case 17: return "EEXIST";
    case 19: return "ENODEV";
    case 22: return "EINVAL";
    case 38: return "ENOSYS";
    case 75: return "EOVERFLOW";
    case 95: return "EOPNOTSUPP";
    case 133: return "EHWPOISON";
    default: return 0;
  }
}
static void put_errno(sres r) {
  const char *name = errno_name((int)-r);
  put_char('-');
  if (name) put_str(name);
  else {
    put_char('E');
    put_i64(-r);
  }
}

static const char *advice_name(int a) {
  switch (a) {
    case MADV_NORMAL_: return "NORMAL";
    case MADV_RANDOM_: return "RANDOM";
    case MADV_SEQUENTIAL_: return "SEQUENTIAL";
    case MADV_WILLNEED_: return "WILLNEED";
    case MADV_DONTNEED_: return "DONTNEED";
    case MADV_FREE_: return "FREE";
    case MADV_REMOVE_: return "REMOVE";
    case MADV_DONTFORK_: return "DONTFORK";
    case MADV_DOFORK_: return "DOFORK";
    case MADV_MERGEABLE_: return "MERGEABLE";
    case MADV_UNMERGEABLE_: return "UNMERGEABLE";
    case MADV_HUGEPAGE_: return "HUGEPAGE";
    case MADV_NOHUGEPAGE_: return "NOHUGEPAGE";
    case MADV_DONTDUMP_: return "DONTDUMP";
    case MADV_DODUMP_: return "DODUMP";
    case MADV_WIPEONFORK_: return "WIPEONFORK";
    case MADV_KEEPONFORK_: return "KEEPONFORK";
    case MADV_COLD_: return "COLD";
    case MADV_PAGEOUT_: return "PAGEOUT";
    case MADV_POPULATE_READ_: return "POPULATE_READ";
    case MADV_POPULATE_WRITE_: return "POPULATE_WRITE";
    case MADV_DONTNEED_LOCKED_: return "DONTNEED_LOCKED";
    case MADV_COLLAPSE_: return "COLLAPSE";
    case MADV_GUARD_INSTALL_: return "GUARD_INSTALL";
    case MADV_GUARD_REMOVE_: return "GUARD_REMOVE";
    default: return 0;
  }
}

struct flag_name {
  int bit;
  const char *name;
};
static const struct flag_name map_flag_names[] = {
    {MAP_FIXED_, "FIXED"},         {MAP_ANONYMOUS_, "ANON"},        {MAP_GROWSDOWN_, "GROWSDOWN"},
    {MAP_DENYWRITE_, "DENYWRITE"}, {MAP_EXECUTABLE_, "EXECUTABLE"}, {MAP_LOCKED_, "LOCKED"},
    {MAP_NORESERVE_, "NORESERVE"}, {MAP_POPULATE_, "POPULATE"},     {MAP_NONBLOCK_, "NONBLOCK"},
    {MAP_STACK_, "STACK"},         {MAP_HUGETLB_, "HUGETLB"},       {MAP_SYNC_, "SYNC"},
    {MAP_FIXED_NOREPLACE_, "NOREPLACE"}, {MAP_UNINITIALIZED_, "UNINITIALIZED"}, {0, 0},
};

static void put_prot(int prot) {
  int low = prot & 7;
  if (low == 0) put_str("none");
  if (low & PROT_READ_) put_char('r');
  if (low & PROT_WRITE_) put_char('w');
  if (low & PROT_EXEC_) put_char('x');
  if (prot & ~7) {
    put_char('+');
    if ((prot & ~7) == PROT_SEM_) put_str("SEM");
    else if ((prot & ~7) == PROT_GROWSDOWN_) put_str("GROWSDOWN");
    else if ((prot & ~7) == PROT_GROWSUP_) put_str("GROWSUP");
    else put_hex((uint32_t)(prot & ~7));
  }
}
static void put_map_flags(int flags) {
  int type = flags & MAP_TYPE_;
  if (type == MAP_SHARED_) put_str("SHARED");
  else if (type == MAP_PRIVATE_) put_str("PRIVATE");
  else if (type == MAP_SHARED_VALIDATE_) put_str("SHARED_VALIDATE");
  else if (type == MAP_DROPPABLE_) put_str("DROPPABLE");
  else {
    put_str("TYPE");
    put_i64(type);
  }
  int rest = flags & ~MAP_TYPE_;
  for (const struct flag_name *f = map_flag_names; f->bit; f++) {
    if (rest & f->bit) {
      put_char('|');
      put_str(f->name);
      rest &= ~f->bit;
    }
  }
  if (rest) {
    put_char('|');
    put_hex((uint32_t)rest);
  }
}
static void put_bits(int flags, const struct flag_name *names) {
  int first = 1, rest = flags;
  for (const struct flag_name *f = names; f->bit; f++) {
    if (rest & f->bit) {
      if (!first) put_char('|');
      put_str(f->name);
      first = 0;
      rest &= ~f->bit;
    }
  }
  if (rest || first) {
    if (!first) put_char('|');
    if (rest) put_hex((uint32_t)rest);
    else put_char('0');
  }
}
static const struct flag_name mremap_flag_names[] = {
    {MREMAP_MAYMOVE_, "MAYMOVE"}, {MREMAP_FIXED_, "FIXED"}, {MREMAP_DONTUNMAP_, "DONTUNMAP"}, {0, 0}};
static const struct flag_name msync_flag_names[] = {
    {MS_ASYNC_, "ASYNC"}, {MS_INVALIDATE_, "INVALIDATE"}, {MS_SYNC_, "SYNC"}, {0, 0}};

/* ---------------------------------------------------------------------------------------- */
/* The PRNG: splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
 * 2014), the same 64-bit arithmetic in both builds. */

static uint64_t rng_state;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int below(int n) { return n <= 1 ? 0 : (int)(rng_next() % (uint64_t)n); }
static int chance(int percent) { return below(100) < percent; }
/* Picks an index by weight. */
static int pick(const uint16_t *weights, int n) {
  int total = 0;
  for (int i = 0; i < n; i++) total += weights[i];
  int x = below(total);
  for (int i = 0; i < n; i++) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return n - 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Layout of the region, in pages. */

enum {
  ARENA = 64,     /* pages with fixed addresses */
  NSLOT = 3,      /* mappings placed anywhere, kept at once */
  REGION = 48,    /* pages of one slot region */
  SLOT_MAX = 24,  /* the largest mapping a slot holds: the rest of its region stays free */
  TOP = 48,       /* free pages at the top, where Linux places mappings before they move */
  G0 = 0,
  ARENA0 = 1,
  G1 = ARENA0 + ARENA,
  ZONE0 = G1 + 1,
  TOTAL = ZONE0 + 2 * NSLOT * REGION + TOP,
};

static size_t U;      /* the libc page size */
static uintptr_t R;   /* the region's first byte */

static uintptr_t page_addr(long idx) { return R + (uintptr_t)idx * U; }
static size_t slot_region(int slot, int which) { return ZONE0 + (size_t)(2 * slot + which) * REGION; }

/* ---------------------------------------------------------------------------------------- */
/* The model of each page of R. */

enum { PROT_UNKNOWN = 16 }; /* mapped by the probe, but the model has no protection for it */
enum {                      /* the vma flags madvise sets (Linux mm/madvise.c), for annotation */
  VMF_RAND = 1, VMF_SEQ = 2, VMF_DONTCOPY = 4, VMF_DONTDUMP = 8, VMF_WIPE = 16, VMF_HUGE = 32,
  VMF_NOHUGE = 64, VMF_MERGEABLE = 128,
  /* and the ones mmap's flags set (mm/mmap.c: do_mmap), which keep neighbours apart as well */
  VMF_LOCKED = 256, VMF_GROWSDOWN = 512, VMF_NORESERVE = 1024,
  VMF_STACK = 2048, /* MAP_STACK: VM_NOHUGEPAGE since Linux 6.7 (seen here: no merge with a plain neighbour) */
  VMF_ADVICE = 255,
};
/* What happened to a page, for the annotation: written (so Linux gave it anonymous memory of its
 * own), moved by mremap (it keeps its old page offset), changed by an mprotect or madvise that
 * answered ENOMEM (Linux applied it; the host may not have). */
enum { HIST_WRITTEN = 1, HIST_MOVED = 2, HIST_PARTIAL_PROT = 4, HIST_PARTIAL_ADVICE = 8 };

struct page {
  int8_t prot; /* -1: not mapped */
  uint8_t shared, lazy, guard, hist;
  uint16_t vmf;
  uint16_t id; /* which mmap made it */
};
static struct page model[TOTAL];
static uint8_t mapped[TOTAL]; /* the last probe */

struct slot {
  int used;
  size_t base; /* page index of its mapping's first page, in region X or Y */
};
static struct slot slots[NSLOT];
static uint16_t next_id;
static uint32_t next_gen;

static const struct page UNMAPPED = {-1, 0, 0, 0, 0, 0, 0};

/* The page range [*from, *to) of R that [a, a+len) covers, clipped to R; 0 if none. */
static int range_pages(uintptr_t a, size_t len, long *from, long *to) {
  uintptr_t end = a + len;
  if (end < a) end = (uintptr_t)-1;
  uintptr_t lo = a < R ? R : a;
  uintptr_t hi = end > page_addr(TOTAL) ? page_addr(TOTAL) : end;
  if (lo >= hi) return 0;
  *from = (long)((lo - R) / U);
  *to = (long)((hi - R + U - 1) / U);
  return 1;
}
static void model_set(long from, long to, const struct page *p) {
  for (long i = from; i < to; i++)
    if (i >= 0 && i < TOTAL) model[i] = *p;
}
static void model_unmap(uintptr_t a, size_t len) {
  long from, to;
  if (range_pages(a, len, &from, &to)) model_set(from, to, &UNMAPPED);
}
static int readable(const struct page *p) { return p->prot >= 0 && p->prot != PROT_UNKNOWN && (p->prot & (PROT_READ_ | PROT_WRITE_)); }
static int writable(const struct page *p) { return p->prot >= 0 && p->prot != PROT_UNKNOWN && (p->prot & PROT_WRITE_); }

/* ---------------------------------------------------------------------------------------- */
/* Page contents. */

static uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
static uint32_t pattern_word(uint32_t tag, size_t i) { return i == 0 ? tag : mix32(tag * 0x9E3779B1u + (uint32_t)i); }

struct page_access {
  uintptr_t addr;
  uint32_t tag;   /* in: the tag to write; out: the first word read */
  int full, ok;
};

static void fill_page(void *arg) {
  struct page_access *pa = arg;
  volatile uint32_t *w = (volatile uint32_t *)pa->addr;
  size_t words = U / 4;
  for (size_t i = 0; i < words; i++) w[i] = pattern_word(pa->tag, i);
}

/* Checks a page against the pattern of the tag in its first word (or zeros): sampled words
 * between calls, every word at the end. */
static void check_page(void *arg) {
  struct page_access *pa = arg;
  const volatile uint32_t *w = (const volatile uint32_t *)pa->addr;
  size_t words = U / 4, step = pa->full ? 1 : words / 32;
  uint32_t t = w[0];
  pa->tag = t;
  pa->ok = 1;
  for (size_t i = 1; i < words; i += step)
    if (w[i] != (t == 0 ? 0 : pattern_word(t, i))) pa->ok = 0;
  if (w[words - 1] != (t == 0 ? 0 : pattern_word(t, words - 1))) pa->ok = 0;
}

/* Writes a tag into a page; 1 if it faulted. */
static int write_page(uintptr_t addr, uint32_t tag) {
  struct page_access pa = {addr, tag, 0, 0};
  return guarded(fill_page, &pa);
}

/* Reads a page back as a token. */
static void read_page(uintptr_t addr, int full, struct sbuf *tok) {
  struct page_access pa = {addr, 0, full, 0};
  int faulted = guarded(check_page, &pa);
  tok->n = 0;
  tok->s[0] = 0;
  if (faulted) sb_str(tok, "!");
  else if (!pa.ok) sb_str(tok, "?");
  else if (pa.tag == 0) sb_str(tok, "z");
  else {
    sb_u(tok, pa.tag >> 8);
    sb_str(tok, ".");
    sb_u(tok, pa.tag & 0xff);
  }
}

/* Writes fresh tags into the writable pages of [from, to); returns the number of the page that
 * faulted, or -1. */
static long write_pages(long from, long to) {
  uint32_t gen = ++next_gen;
  for (long i = from; i < to; i++) {
    if (i < 0 || i >= TOTAL) continue;
    struct page *p = &model[i];
    if (!writable(p) || p->guard) continue;
    if (write_page(page_addr(i), (gen << 8) | (uint32_t)((i - from) & 0xff))) return i - from;
    p->hist |= HIST_WRITTEN;
    p->lazy = 0;
  }
  return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Calls described relative to the region. */

enum { OP_END, OP_MMAP, OP_MUNMAP, OP_MREMAP, OP_MADVISE, OP_MPROTECT, OP_MSYNC, OP_WRITE };
enum { SUB_0, SUB_1, SUB_HALF };                                    /* bytes past a page start */
enum { REM_0, REM_P1, REM_HALF, REM_M1, REM_MAX, REM_HUGE };        /* bytes past whole pages */
enum { OFF_0, OFF_PAGE, OFF_1 };                                     /* mmap's offset */

struct loc {
  char region; /* 'A' arena, 'F' slot, 'N' address 0 */
  int8_t slot;
  int16_t page;
  uint8_t sub;
};
struct len {
  int16_t pages;
  uint8_t rem;
};
struct op {
  uint8_t kind, write, off;
  struct loc a, b;
  struct len l, l2;
  int32_t arg, arg2;
};

static uintptr_t loc_addr(struct loc l) {
  uintptr_t base = 0;
  if (l.region == 'A') base = page_addr(ARENA0 + l.page);
  else if (l.region == 'F') base = page_addr((long)slots[l.slot].base + l.page);
  if (l.sub == SUB_1) base += 1;
  else if (l.sub == SUB_HALF) base += U / 2;
  return base;
}
static size_t len_bytes(struct len l) {
  if (l.rem == REM_MAX) return (size_t)-1;
  if (l.rem == REM_HUGE) return (size_t)-1 - 2 * U + 1;
  size_t b = (size_t)l.pages * U;
  if (l.rem == REM_P1) b += 1;
  else if (l.rem == REM_HALF) b += U / 2;
  else if (l.rem == REM_M1) b -= 1;
  return b;
}
static size_t pages_of(size_t bytes) { return bytes / U + (bytes % U != 0); }

static void put_loc(struct loc l) {
  if (l.region == 'N') put_str("0");
  else {
    put_char(l.region);
    if (l.region == 'F') put_i64(l.slot);
    put_char('+');
    put_i64(l.page);
  }
  if (l.sub == SUB_1) put_str("+1");
  else if (l.sub == SUB_HALF) put_str("+h");
}
static void put_len(struct len l) {
  if (l.rem == REM_MAX) {
    put_str("max");
    return;
  }
  if (l.rem == REM_HUGE) {
    put_str("huge");
    return;
  }
  put_i64(l.pages);
  put_char('p');
  if (l.rem == REM_P1) put_str("+1");
  else if (l.rem == REM_HALF) put_str("+h");
  else if (l.rem == REM_M1) put_str("-1");
}
/* An address as the output names it: arena page, guard, slot page, or "out" (outside R). */
static void put_addr(uintptr_t a) {
  if (a < R || a >= page_addr(TOTAL)) {
    put_str("out");
    return;
  }
  long idx = (long)((a - R) / U);
  size_t sub = (a - R) % U;
  int named = 0;
  if (idx == G0) put_str("G0"), named = 1;
  else if (idx == G1) put_str("G1"), named = 1;
  else if (idx >= ARENA0 && idx < G1) put_str("A+"), put_i64(idx - ARENA0), named = 1;
  for (int s = 0; !named && s < NSLOT; s++) {
    if (slots[s].used && idx >= (long)slots[s].base && idx < (long)slots[s].base + REGION) {
      put_char('F');
      put_i64(s);
      put_char('+');
      put_i64(idx - (long)slots[s].base);
      named = 1;
    }
  }
  if (!named) put_str("Z+"), put_i64(idx - ZONE0);
  if (sub) put_char('+'), put_u64(sub);
}

/* The annotation of a range: what the model knows about the pages a call touches. */
static void put_annotation(uintptr_t a, size_t len, int extra_overlap) {
  long from, to;
  put_str(" {");
  if (!range_pages(a, len, &from, &to) || len == 0 || len >= (size_t)TOTAL * U) {
    put_str("}");
    return;
  }
  if (to - from > TOTAL) to = from + TOTAL;
  uint16_t ids[TOTAL], wids[TOTAL];
  int nids = 0, nwids = 0, holes = 0, shared = 0, moved = 0, partial_prot = 0, partial_advice = 0, prot_mixed = 0,
      advice_mixed = 0, mapflags_mixed = 0, prot0 = -2, vmf0 = -1;
  for (long i = from; i < to; i++) {
    const struct page *p = &model[i];
    if (p->prot < 0) {
      holes++;
      continue;
    }
    int seen = 0;
    for (int k = 0; k < nids; k++) seen |= ids[k] == p->id;
    if (!seen) ids[nids++] = p->id;
    if (p->hist & HIST_WRITTEN) {
      seen = 0;
      for (int k = 0; k < nwids; k++) seen |= wids[k] == p->id;
      if (!seen) wids[nwids++] = p->id;
    }
    shared |= p->shared;
    moved |= (p->hist & HIST_MOVED) != 0;
    partial_prot |= (p->hist & HIST_PARTIAL_PROT) != 0;
    partial_advice |= (p->hist & HIST_PARTIAL_ADVICE) != 0;
    if (prot0 == -2) prot0 = p->prot;
    else if (prot0 != p->prot) prot_mixed = 1;
    if (vmf0 == -1) vmf0 = p->vmf;
    else {
      advice_mixed |= ((vmf0 ^ p->vmf) & VMF_ADVICE) != 0;
      mapflags_mixed |= ((vmf0 ^ p->vmf) & ~VMF_ADVICE) != 0;
    }
  }
  int first = 1;
#define NOTE(cond, text, value)      \
  if (cond) {                        \
    if (!first) put_char(' ');       \
    put_str(text);                   \
    if ((value) >= 0) put_i64(value); \
    first = 0;                       \
  }
  NOTE(1, "ids=", nids);
  NOTE(holes, "holes=", holes);
  NOTE(nwids > 1, "written=", nwids);
  NOTE(shared, "shared", -1);
  NOTE(prot_mixed, "prot-mixed", -1);
  NOTE(advice_mixed, "advice-mixed", -1);
  NOTE(mapflags_mixed, "mapflags-mixed", -1);
  NOTE(moved, "moved", -1);
  NOTE(partial_prot, "partial-prot", -1);
  NOTE(partial_advice, "partial-advice", -1);
  NOTE(extra_overlap, "overlap", -1);
#undef NOTE
  put_str("}");
}

/* ---------------------------------------------------------------------------------------- */
/* Slots: mappings placed anywhere, moved to a region of their own. */

static int free_slot(void) {
  for (int s = 0; s < NSLOT; s++)
    if (!slots[s].used) return s;
  return -1;
}
static long slot_extent(int s) {
  long last = 0;
  for (long i = 0; i < REGION; i++)
    if (model[slots[s].base + i].prot >= 0) last = i + 1;
  return last;
}

/*
 * A mapping of `pages` pages at `addr`, placed by the kernel or the host, becomes the next free
 * slot's mapping: moved to that slot's region X, or Y if it overlaps X. `tmpl` is what the
 * model knows of its pages. Prints the slot it became ("->F1"), or "->drop" when all slots are
 * taken (the mapping is then unmapped).
 */
static int adopt(uintptr_t addr, size_t pages, const struct page *tmpl) {
  int s = free_slot();
  if (s < 0 || pages > SLOT_MAX) {
    sys_munmap(addr, pages * U);
    model_unmap(addr, pages * U);
    put_str("->drop");
    return -1;
  }
  size_t x = slot_region(s, 0), y = slot_region(s, 1);
  uintptr_t end = addr + pages * U;
  size_t target = (addr < page_addr((long)(x + REGION)) && end > page_addr((long)x)) ? y : x;
  if (addr != page_addr((long)target)) {
    sres r = sys_mremap(addr, pages * U, pages * U, MREMAP_MAYMOVE_ | MREMAP_FIXED_, page_addr((long)target));
    if (r != (sres)page_addr((long)target)) {
      put_str("->relocate-failed:");
      if (is_err(r)) put_errno(r);
      else put_addr((uintptr_t)r);
      sys_munmap(addr, pages * U);
      model_unmap(addr, pages * U);
      return -1;
    }
    model_unmap(addr, pages * U);
  }
  slots[s].used = 1;
  slots[s].base = target;
  for (size_t i = 0; i < pages; i++) model[target + i] = tmpl[i];
  put_str("->F");
  put_i64(s);
  return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Probing and printing the state. */

static void probe(long from, long to) {
  for (long i = from; i < to; i++) {
    sres r = sys_msync(page_addr(i), U, MS_ASYNC_);
    mapped[i] = r == 0 ? 1 : r == -12 ? 0 : 2;
    if (mapped[i] == 0 && model[i].prot >= 0) model[i] = UNMAPPED;
    if (mapped[i] != 0 && model[i].prot < 0) {
      /* The model did not expect a mapping here: say so, and read nothing from it. */
      model[i] = UNMAPPED;
      model[i].prot = PROT_UNKNOWN;
    }
  }
}

static void page_token(long i, int full, struct sbuf *tok) {
  const struct page *p = &model[i];
  tok->n = 0;
  tok->s[0] = 0;
  if (mapped[i] == 2) sb_str(tok, "E");
  else if (!mapped[i]) sb_str(tok, ".");
  else if (p->prot == PROT_UNKNOWN) sb_str(tok, "u");
  else if (p->guard) sb_str(tok, "g");
  else if (!readable(p)) sb_str(tok, "-");
  else {
    read_page(page_addr(i), full, tok);
    if (p->lazy && (tok->s[0] == 'z' || (tok->s[0] >= '0' && tok->s[0] <= '9'))) {
      tok->n = 0;
      sb_str(tok, "L");
    }
  }
}

/* Tokens of [from, to). A run of a one-letter token is written x*n, and a run of tags of one
 * write with consecutive numbers g.a..b. */
static int tag_parts(const struct sbuf *t, long *gen, long *n) {
  const char *dot = strchr(t->s, '.');
  if (t->s[0] < '0' || t->s[0] > '9' || !dot) return 0;
  *gen = parse_long(t->s);
  *n = parse_long(dot + 1);
  return 1;
}
static void put_pages(long from, long to, int full) {
  struct sbuf prev, tok;
  int run = 0;
  long gen0 = 0, n0 = 0, gen, n;
  prev.n = 0;
  prev.s[0] = 0;
  for (long i = from; i <= to; i++) {
    if (i < to) page_token(i, full, &tok);
    int same = i < to && run > 0 && tok.n == 1 && prev.n == 1 && tok.s[0] == prev.s[0];
    int next_tag = i < to && run > 0 && tag_parts(&prev, &gen0, &n0) && tag_parts(&tok, &gen, &n) && gen == gen0 && n == n0 + run;
    if (same || next_tag) {
      run++;
      continue;
    }
    if (run > 0) {
      put_char(' ');
      put_str(prev.s);
      if (run > 1 && prev.n == 1) put_char('*'), put_i64(run);
      else if (run > 1) put_str(".."), put_i64(n0 + run - 1);
    }
    if (i < to) {
      prev = tok;
      run = 1;
    }
  }
}

static void print_state(const char *label, int full) {
  probe(ARENA0, G1);
  for (int s = 0; s < NSLOT; s++)
    if (slots[s].used) probe((long)slots[s].base, (long)slots[s].base + REGION);
  /* A slot whose mapping is gone is free again (both its regions are empty by now). */
  for (int s = 0; s < NSLOT; s++) {
    if (slots[s].used && slot_extent(s) == 0) slots[s].used = 0;
  }
  put_str("  ");
  put_str(label);
  put_str(" A:");
  put_pages(ARENA0, G1, full);
  for (int s = 0; s < NSLOT; s++) {
    if (!slots[s].used) continue;
    long ext = slot_extent(s) + 2;
    if (ext > REGION) ext = REGION;
    put_str(" | F");
    put_i64(s);
    put_char(':');
    put_pages((long)slots[s].base, (long)slots[s].base + ext, full);
  }
  end_line();
}

/* ---------------------------------------------------------------------------------------- */
/* Running one call. */

static int prot_bits_of(int prot) { return prot & 7; }
static struct page fresh_page(int prot, int flags) {
  struct page p = UNMAPPED;
  int type = flags & MAP_TYPE_;
  p.prot = (int8_t)prot_bits_of(prot);
  p.shared = type == MAP_SHARED_ || type == MAP_SHARED_VALIDATE_;
  p.lazy = type == MAP_DROPPABLE_; /* its pages may be dropped at any time (mmap(2)) */
  p.id = next_id;
  if (flags & MAP_LOCKED_) p.vmf |= VMF_LOCKED;
  if (flags & MAP_GROWSDOWN_) p.vmf |= VMF_GROWSDOWN;
  if (flags & MAP_STACK_) p.vmf |= VMF_STACK;
  /* Private writable mappings are accounted unless MAP_NORESERVE (VM_NORESERVE); shared ones are
   * backed by their object either way. */
  if ((flags & MAP_NORESERVE_) && !p.shared) p.vmf |= VMF_NORESERVE;
  return p;
}

/* madvise's effect on the model of one page (Linux mm/madvise.c: madvise_vma_behavior). */
static void advise_page(struct page *p, int advice) {
  switch (advice) {
    case MADV_NORMAL_: p->vmf &= ~(VMF_RAND | VMF_SEQ); break;
    case MADV_RANDOM_: p->vmf = (uint16_t)((p->vmf & ~VMF_SEQ) | VMF_RAND); break;
    case MADV_SEQUENTIAL_: p->vmf = (uint16_t)((p->vmf & ~VMF_RAND) | VMF_SEQ); break;
    case MADV_DONTFORK_: p->vmf |= VMF_DONTCOPY; break;
    case MADV_DOFORK_: p->vmf &= ~VMF_DONTCOPY; break;
    case MADV_DONTDUMP_: p->vmf |= VMF_DONTDUMP; break;
    case MADV_DODUMP_: p->vmf &= ~VMF_DONTDUMP; break;
    case MADV_WIPEONFORK_: p->vmf |= VMF_WIPE; break;
    case MADV_KEEPONFORK_: p->vmf &= ~VMF_WIPE; break;
    case MADV_HUGEPAGE_: p->vmf = (uint16_t)((p->vmf & ~VMF_NOHUGE) | VMF_HUGE); break;
    case MADV_NOHUGEPAGE_: p->vmf = (uint16_t)((p->vmf & ~VMF_HUGE) | VMF_NOHUGE); break;
    case MADV_MERGEABLE_: p->vmf |= VMF_MERGEABLE; break;
    case MADV_UNMERGEABLE_: p->vmf &= ~VMF_MERGEABLE; break;
    case MADV_DONTNEED_:
    case MADV_DONTNEED_LOCKED_:
    case MADV_REMOVE_: p->lazy = 0; break;
    case MADV_POPULATE_WRITE_: p->hist |= HIST_WRITTEN; break;
    case MADV_GUARD_REMOVE_: p->guard = 0; break;
    default: break;
  }
}

static void run_mmap(const struct op *o) {
  uintptr_t a = loc_addr(o->a);
  size_t len = len_bytes(o->l);
  int prot = o->arg, flags = o->arg2;
  int64_t off = o->off == OFF_PAGE ? (int64_t)U : o->off == OFF_1 ? 1 : 0;
  int fixed = (flags & (MAP_FIXED_ | MAP_FIXED_NOREPLACE_)) != 0;
  put_str("mmap ");
  put_loc(o->a);
  put_char(' ');
  put_len(o->l);
  put_str(" prot=");
  put_prot(prot);
  put_str(" flags=");
  put_map_flags(flags);
  if (o->off) put_str(o->off == OFF_PAGE ? " off=1p" : " off=1");
  if (!(flags & MAP_ANONYMOUS_)) put_str(" fd=-1");
  if (o->write) put_str(" +w");
  if (fixed) put_annotation(a, len, 0);
  put_str(" => ");
  sres r = sys_mmap(a, len, prot, flags, -1, off);
  if (is_err(r)) {
    put_errno(r);
    return;
  }
  size_t pages = pages_of(len);
  next_id++;
  struct page p = fresh_page(prot, flags);
  uintptr_t at = (uintptr_t)r;
  /* An unaligned hint: generic Linux rounds it up (mm/mmap.c), x86 rounds it down
   * (arch/x86/kernel/sys_x86_64.c); both are printed as what they are. */
  uintptr_t hint_up = (a + U - 1) / U * U, hint_down = a / U * U;
  if (fixed || (a != 0 && (at == hint_up || at == hint_down))) {
    if (!fixed) put_str(at == a ? "=hint" : at == hint_down ? "=hint-down" : "=hint-up");
    else if (at == a) put_str("=req");
    else put_addr(at);
    model_unmap(at, pages * U);
    long from, to;
    if (range_pages(at, pages * U, &from, &to)) model_set(from, to, &p);
  } else {
    struct page tmpl[SLOT_MAX];
    for (int i = 0; i < SLOT_MAX; i++) tmpl[i] = p;
    put_str("anywhere");
    int s = adopt(at, pages, tmpl);
    if (s < 0) return;
    at = page_addr((long)slots[s].base);
  }
  if (o->write) {
    long from, to;
    if (range_pages(at, pages * U, &from, &to)) {
      long fault = write_pages(from, to);
      if (fault >= 0) put_str(" write-fault@"), put_i64(fault);
    }
  }
}

static void run_mremap(const struct op *o) {
  uintptr_t old = loc_addr(o->a), na = 0;
  size_t ol = len_bytes(o->l), nl = len_bytes(o->l2);
  int flags = o->arg;
  if (o->b.region) na = loc_addr(o->b);
  put_str("mremap ");
  put_loc(o->a);
  put_char(' ');
  put_len(o->l);
  put_char(' ');
  put_len(o->l2);
  put_str(" flags=");
  put_bits(flags, mremap_flag_names);
  if (o->b.region) put_char(' '), put_loc(o->b);
  int overlap = 0;
  if (flags & MREMAP_FIXED_) {
    uintptr_t oe = old + ol, ne = na + nl;
    overlap = na < oe && old < ne;
  }
  put_annotation(old, ol, overlap);
  put_str(" => ");
  sres r = sys_mremap(old, ol, nl, flags, na);
  if (is_err(r)) {
    put_errno(r);
    return;
  }
  size_t op = pages_of(ol), np = pages_of(nl);
  long from = 0, to = 0;
  int in_r = range_pages(old, op ? op * U : U, &from, &to);
  /* What the model knows of the pages that come out: the old ones, then grown ones, which take
   * the old mapping's protection and flags (their contents are read, not modelled). */
  struct page tmpl[TOTAL];
  for (size_t i = 0; i < np && i < TOTAL; i++) {
    if (!in_r) tmpl[i] = UNMAPPED;
    else if (i < op || op == 0) tmpl[i] = from + (long)i < TOTAL ? model[from + (long)i] : UNMAPPED;
    else {
      long last = from + (long)op - 1;
      tmpl[i] = last < TOTAL && model[last].prot >= 0 ? model[last] : model[from];
      tmpl[i].lazy = 0;
      tmpl[i].guard = 0;
      tmpl[i].hist &= ~HIST_WRITTEN;
    }
  }
  uintptr_t at = (uintptr_t)r;
  int keep_old = (flags & MREMAP_DONTUNMAP_) != 0;
  if (at == old && !(flags & MREMAP_FIXED_)) {
    put_str("=old");
    if (np < op) model_unmap(old + np * U, (op - np) * U);
    else {
      long gf, gt;
      if (range_pages(old + op * U, (np - op) * U, &gf, &gt))
        for (long i = gf; i < gt; i++) model[i] = tmpl[op + (size_t)(i - gf)];
    }
    return;
  }
  for (size_t i = 0; i < np && i < TOTAL; i++) tmpl[i].hist |= HIST_MOVED;
  if (keep_old) {
    /* The old range stays mapped; private pages read zeros again (mremap(2)). */
    if (in_r)
      for (long i = from; i < to && i < TOTAL; i++) model[i].lazy = 0;
  } else if (op) {
    model_unmap(old, op * U);
  }
  if (flags & MREMAP_FIXED_) {
    if (at == na) put_str("=req");
    else put_addr(at);
    /* Since Linux 6.17 an old range may span several mappings and the holes between them: each
     * mapping moves to the same offset, and the pages opposite a hole keep what they had. */
    long nf, nt;
    if (range_pages(at, np * U, &nf, &nt))
      for (long i = nf; i < nt; i++)
        if (tmpl[i - nf].prot >= 0 || (size_t)(i - nf) >= op) model[i] = tmpl[i - nf];
    return;
  }
  put_str("moved");
  adopt(at, np, tmpl);
}

/* madvise, mprotect, msync, munmap and writes: a range and one value. */
static void run_range(const struct op *o) {
  uintptr_t a = loc_addr(o->a);
  size_t len = len_bytes(o->l);
  static const char *names[] = {"", "", "munmap", "", "madvise", "mprotect", "msync", "write"};
  put_str(names[o->kind]);
  put_char(' ');
  put_loc(o->a);
  put_char(' ');
  put_len(o->l);
  if (o->kind == OP_MADVISE) {
    const char *name = advice_name(o->arg);
    put_char(' ');
    if (name) put_str(name);
    else put_str("advice="), put_i64(o->arg);
  } else if (o->kind == OP_MPROTECT) {
    put_str(" prot="), put_prot(o->arg);
  } else if (o->kind == OP_MSYNC) {
    put_str(" flags="), put_bits(o->arg, msync_flag_names);
  }
  put_annotation(a, len, 0);
  put_str(" => ");
  long from = 0, to = 0;
  int in_r = len > 0 && len < (size_t)TOTAL * U && range_pages(a, len, &from, &to);
  if (o->kind == OP_WRITE) {
    long fault = in_r ? write_pages(from, to) : -1;
    if (fault >= 0) put_str("fault@"), put_i64(fault);
    else put_str("ok");
    return;
  }
  sres r = 0;
  if (o->kind == OP_MUNMAP) r = sys_munmap(a, len);
  else if (o->kind == OP_MADVISE) r = sys_madvise(a, len, o->arg);
  else if (o->kind == OP_MPROTECT) r = sys_mprotect(a, len, o->arg);
  else if (o->kind == OP_MSYNC) r = sys_msync(a, len, o->arg);
  if (is_err(r)) put_errno(r);
  else put_i64(r);
  if (!in_r || (a - R) % U != 0) return;
  if (o->kind == OP_MUNMAP && r == 0) model_set(from, to, &UNMAPPED);
  if (o->kind == OP_MPROTECT && (r == 0 || r == -12)) {
    /* Linux changes the mappings up to the first hole before it answers ENOMEM
     * (mm/mprotect.c: do_mprotect_pkey); nothing when the first page is not mapped. */
    for (long i = from; i < to && model[i].prot >= 0; i++) {
      model[i].prot = (int8_t)prot_bits_of(o->arg);
      if (r != 0) model[i].hist |= HIST_PARTIAL_PROT;
    }
  }
  if (o->kind == OP_MADVISE) {
    /* Linux applies the advice to every mapping in the range, holes or not, before it answers
     * ENOMEM (mm/madvise.c: madvise_walk_vmas). MADV_FREE may also have freed pages before a
     * mapping it refused, so its pages are read leniently whatever the answer. */
    for (long i = from; i < to; i++) {
      struct page *p = &model[i];
      if (p->prot < 0) continue;
      if (o->arg == MADV_FREE_) {
        if (!p->shared) p->lazy = 1;
      } else if (r == 0 || r == -12) {
        advise_page(p, o->arg);
        if (r != 0 && (p->vmf & VMF_ADVICE)) p->hist |= HIST_PARTIAL_ADVICE;
        if (o->arg == MADV_GUARD_INSTALL_ && r == 0) p->guard = 1;
      }
    }
  }
}

static void run_op(const struct op *o, int step) {
  put_i64(step);
  put_char(' ');
  switch (o->kind) {
    case OP_MMAP: run_mmap(o); break;
    case OP_MREMAP: run_mremap(o); break;
    default: run_range(o); break;
  }
  end_line();
  print_state("S", 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Setting up and tearing down the region. */

static int setup(void) {
  size_t total = (size_t)TOTAL * U;
  sres r = sys_mmap(0, total, PROT_NONE_, MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_NORESERVE_, -1, 0);
  if (is_err(r)) return 0;
  R = (uintptr_t)r;
  if (sys_munmap(R, total) != 0) return 0;
  for (long i = 0; i < TOTAL; i++) model[i] = UNMAPPED, mapped[i] = 0;
  /* The guards keep arena mappings from growing into, or merging with, the zone. */
  struct page guard = UNMAPPED;
  guard.prot = 0;
  guard.id = 1;
  if (sys_mmap(page_addr(G0), U, PROT_NONE_, MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_FIXED_NOREPLACE_, -1, 0) != (sres)page_addr(G0)) return 0;
  if (sys_mmap(page_addr(G1), U, PROT_NONE_, MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_FIXED_NOREPLACE_, -1, 0) != (sres)page_addr(G1)) return 0;
  model[G0] = guard;
  model[G1] = guard;
  memset(slots, 0, sizeof slots);
  next_id = 2;
  next_gen = 0;
  return 1;
}
static void teardown(void) { sys_munmap(R, (size_t)TOTAL * U); }

/* ---------------------------------------------------------------------------------------- */
/* Features the runner can switch off (argument off=a,b,...), so that a known divergence does
 * not hide the ones behind it. A switched-off choice is replaced, never skipped, so the rest of
 * the sequence draws the same numbers. */

static uint8_t off_advice[128];
static int off_prot_bits, off_map_flags, off_validate, off_shared, off_dontunmap_unrounded,
    off_mremap_span, off_range_holes, off_fixed_overlap, off_oldlen0, off_huge_len, off_hint_sub, off_map_type;

static int str_eq_n(const char *a, const char *b, size_t n) { return strncmp(a, b, n) == 0; }
static void switch_off(const char *list) {
  while (*list) {
    const char *end = list;
    while (*end && *end != ',') end++;
    size_t n = (size_t)(end - list);
    if (n > 5 && str_eq_n(list, "madv:", 5)) {
      long v = parse_long(list + 5);
      if (v >= 0 && v < 127) off_advice[v] = 1;
      else if (v < 0) off_advice[127] = 1; /* every negative advice */
    }
#define FEATURE(name, var) else if (n == strlen(name) && str_eq_n(list, name, n)) var = 1;
    FEATURE("prot-bits", off_prot_bits)
    FEATURE("map-flags", off_map_flags)
    FEATURE("validate", off_validate)
    FEATURE("shared", off_shared)
    FEATURE("dontunmap-unrounded", off_dontunmap_unrounded)
    FEATURE("mremap-span", off_mremap_span)
    FEATURE("range-holes", off_range_holes)
    FEATURE("fixed-overlap", off_fixed_overlap)
    FEATURE("oldlen0", off_oldlen0)
    FEATURE("huge-len", off_huge_len)
    FEATURE("hint-sub", off_hint_sub)
    FEATURE("map-type", off_map_type)
#undef FEATURE
    list = *end ? end + 1 : end;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The random generator. Choices lean on the model (start of a mapping, a free page next to
 * one) so that sequences meet neighbours, holes and splits often. */

static int used_slots(int *list) {
  int n = 0;
  for (int s = 0; s < NSLOT; s++)
    if (slots[s].used) list[n++] = s;
  return n;
}
static int small_pages(void) {
  static const uint16_t w[] = {25, 20, 15, 10, 20, 10};
  switch (pick(w, 6)) {
    case 0: return 1;
    case 1: return 2;
    case 2: return 3;
    case 3: return 4;
    case 4: return 5 + below(4);
    default: return 9 + below(8);
  }
}
/* Arena page where a run of equal model pages starts (a mapping or part of one), or -1. */
static int run_start(int nth_choice) {
  int starts[ARENA], n = 0;
  for (int i = 0; i < ARENA; i++) {
    const struct page *p = &model[ARENA0 + i], *q = &model[ARENA0 + i - 1];
    if (p->prot >= 0 && (i == 0 || q->prot != p->prot || q->id != p->id || q->vmf != p->vmf)) starts[n++] = i;
  }
  return n ? starts[nth_choice % n] : -1;
}
static int run_length(int start) {
  const struct page *p = &model[ARENA0 + start];
  int n = 1;
  while (start + n < ARENA) {
    const struct page *q = &model[ARENA0 + start + n];
    if (q->prot != p->prot || q->id != p->id || q->vmf != p->vmf) break;
    n++;
  }
  return n;
}
static int free_page(int nth_choice) {
  int pages[ARENA], n = 0;
  for (int i = 0; i < ARENA; i++)
    if (model[ARENA0 + i].prot < 0) pages[n++] = i;
  return n ? pages[nth_choice % n] : -1;
}
/* A page just past the end of a mapping (to create neighbours), or -1. */
static int after_run(int nth_choice) {
  int pages[ARENA], n = 0;
  for (int i = 1; i < ARENA; i++)
    if (model[ARENA0 + i].prot < 0 && model[ARENA0 + i - 1].prot >= 0) pages[n++] = i;
  return n ? pages[nth_choice % n] : -1;
}

static int arena_start(void) {
  int x = below(1000), r = -1;
  int kind = below(10);
  if (kind < 6) r = run_start(x);
  if (r >= 0 && chance(20)) r += below(3) - 1;
  if (r < 0 || r >= ARENA) r = below(ARENA);
  return r;
}
static struct len some_len(int pages) {
  struct len l = {(int16_t)pages, REM_0};
  static const uint16_t w[] = {80, 7, 6, 5, 1, 1};
  int k = pick(w, 6);
  if ((k == REM_MAX || k == REM_HUGE) && off_huge_len) k = REM_0;
  if (k == REM_M1 && pages < 1) k = REM_0;
  l.rem = (uint8_t)k;
  return l;
}
static uint8_t some_sub(void) {
  int x = below(100);
  return x < 3 ? SUB_1 : x < 5 ? SUB_HALF : SUB_0;
}
static int some_prot(int for_mprotect) {
  static const uint16_t w[] = {62, 10, 8, 3, 3, 2, 5, 2, 2, 3};
  int k = pick(w, 10);
  int prot;
  switch (k) {
    case 0: prot = PROT_READ_ | PROT_WRITE_; break;
    case 1: prot = PROT_READ_; break;
    case 2: prot = PROT_NONE_; break;
    case 3: prot = PROT_WRITE_; break;
    case 4: prot = PROT_READ_ | PROT_WRITE_ | PROT_EXEC_; break;
    case 5: prot = PROT_EXEC_; break;
    case 6: prot = PROT_READ_ | PROT_WRITE_ | PROT_SEM_; break;
    case 7: prot = PROT_READ_ | 0x10; break;
    case 8: prot = for_mprotect ? (PROT_READ_ | PROT_WRITE_ | PROT_GROWSDOWN_) : (PROT_READ_ | 0x80); break;
    default: prot = for_mprotect ? (PROT_READ_ | PROT_GROWSUP_) : (PROT_READ_ | PROT_WRITE_ | 0x40000000); break;
  }
  if (off_prot_bits) prot &= 7;
  return prot;
}
static int some_map_flags(void) {
  static const uint16_t tw[] = {70, 22, 5, 3};
  int type;
  switch (pick(tw, 4)) {
    case 0: type = MAP_PRIVATE_; break;
    case 1: type = MAP_SHARED_; break;
    case 2: type = MAP_SHARED_VALIDATE_; break;
    default: {
      static const int bad[] = {0, 4, 7, 15};
      type = bad[below(4)];
      if (off_map_type) type = MAP_PRIVATE_;
    }
  }
  if (off_validate && type == MAP_SHARED_VALIDATE_) type = MAP_SHARED_;
  if (off_shared && (type == MAP_SHARED_ || type == MAP_SHARED_VALIDATE_)) type = MAP_PRIVATE_;
  int flags = type | MAP_ANONYMOUS_;
  static const struct {
    int bit, percent;
  } extras[] = {
      {MAP_NORESERVE_, 5}, {MAP_POPULATE_, 5}, {MAP_STACK_, 4}, {MAP_NONBLOCK_, 1}, {MAP_DENYWRITE_, 1},
      {MAP_EXECUTABLE_, 1}, {MAP_LOCKED_, 1}, {MAP_GROWSDOWN_, 1}, {MAP_UNINITIALIZED_, 1},
      {MAP_UNKNOWN_BIT_, 1}, {MAP_SYNC_, 1},
  };
  for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
    int on = chance(extras[i].percent);
    int known = extras[i].bit == MAP_NORESERVE_ || extras[i].bit == MAP_POPULATE_;
    if (on && (known || !off_map_flags)) flags |= extras[i].bit;
  }
  return flags;
}

/* A range on the arena or on a slot's mapping. */
static void some_range(struct op *o) {
  int list[NSLOT];
  int n = used_slots(list);
  if (n && chance(25)) {
    int s = list[below(n)];
    long ext = slot_extent(s);
    int page = chance(50) ? 0 : below((int)ext + 1);
    int pages = 1 + below((int)ext + 2 - page);
    o->a = (struct loc){'F', (int8_t)s, (int16_t)page, some_sub()};
    o->l = some_len(pages);
  } else {
    int page = arena_start();
    int pages = small_pages();
    if (chance(40) && model[ARENA0 + page].prot >= 0) pages = run_length(page) + below(3) - 1;
    if (pages < 1) pages = 1;
    if (page + pages > ARENA) pages = ARENA - page;
    o->a = (struct loc){'A', 0, (int16_t)page, some_sub()};
    o->l = some_len(pages);
  }
  if (chance(3)) o->l = (struct len){0, REM_0};
}

/* Clips a range to the pages of one mapping as the model knows it (one mmap, one protection, one
 * advice) from its start; a range that starts in a hole becomes that one page. */
static void clip_to_run(struct op *o) {
  long base;
  int limit;
  if (o->a.region == 'A') base = ARENA0, limit = ARENA;
  else if (o->a.region == 'F') base = (long)slots[o->a.slot].base, limit = REGION;
  else return;
  if (o->l.rem > REM_M1) return;
  int start = o->a.page, end = start;
  const struct page *first = &model[base + start];
  while (end < limit && model[base + end].prot >= 0 && model[base + end].id == first->id &&
         model[base + end].prot == first->prot && model[base + end].vmf == first->vmf)
    end++;
  if (end == start) {
    o->l = (struct len){1, REM_0};
    return;
  }
  if (start + (int)pages_of(len_bytes(o->l)) > end) o->l = (struct len){(int16_t)(end - start), REM_0};
}

static void gen_mmap(struct op *o) {
  o->kind = OP_MMAP;
  int pages = small_pages();
  static const uint16_t w[] = {55, 20, 5, 8, 12};
  int place = pick(w, 5);
  int flags = some_map_flags();
  int page = 0;
  if (place == 4 && free_slot() < 0) place = 0;
  if (place != 4) {
    int x = below(1000);
    int k = below(10);
    page = k < 4 ? free_page(x) : k < 7 ? after_run(x) : below(ARENA);
    if (page < 0) page = below(ARENA);
    if (page + pages > ARENA) pages = ARENA - page;
  } else if (pages > SLOT_MAX) {
    pages = SLOT_MAX;
  }
  o->a = (struct loc){'A', 0, (int16_t)page, 0};
  switch (place) {
    case 0: flags |= MAP_FIXED_; o->a.sub = some_sub(); break;
    case 1: flags |= MAP_FIXED_NOREPLACE_; o->a.sub = some_sub(); break;
    case 2: flags |= MAP_FIXED_ | MAP_FIXED_NOREPLACE_; break;
    case 3: o->a.sub = chance(20) && !off_hint_sub ? SUB_HALF : SUB_0; break; /* a hint */
    default: o->a = (struct loc){'N', 0, 0, 0}; break;   /* anywhere */
  }
  o->l = some_len(pages);
  if (chance(2)) o->l = (struct len){0, REM_0};
  o->arg = some_prot(0);
  o->arg2 = flags;
  o->write = (uint8_t)chance(75);
  if (chance(2)) o->off = chance(50) ? OFF_PAGE : OFF_1;
}

static void gen_mremap(struct op *o) {
  o->kind = OP_MREMAP;
  int list[NSLOT];
  int n = used_slots(list);
  int old_pages;
  if (n && chance(30)) {
    int s = list[below(n)];
    long ext = slot_extent(s);
    int d = below(100);
    old_pages = (int)ext + (d < 70 ? 0 : d < 85 ? -1 : 1);
    if (old_pages < 1) old_pages = 1;
    o->a = (struct loc){'F', (int8_t)s, (int16_t)(chance(90) ? 0 : 1), 0};
  } else {
    int start = run_start(below(1000));
    if (start < 0) start = below(ARENA);
    if (chance(15)) start += below(3);
    if (start >= ARENA) start = ARENA - 1;
    o->a = (struct loc){'A', 0, (int16_t)start, 0};
    old_pages = model[ARENA0 + start].prot >= 0 ? run_length(start) : small_pages();
    int d = below(100);
    if (d >= 60 && d < 75) old_pages += 1;
    else if (d >= 75 && d < 85) old_pages -= 1;
    else if (d >= 85) old_pages = small_pages();
    if (old_pages < 1) old_pages = 1;
    if (start + old_pages > ARENA) old_pages = ARENA - start;
  }
  if (chance(3)) o->a.sub = SUB_1;
  static const uint16_t fw[] = {25, 35, 20, 8, 4, 2, 2, 2, 2};
  static const int flag_choices[] = {0, MREMAP_MAYMOVE_, MREMAP_MAYMOVE_ | MREMAP_FIXED_,
                                     MREMAP_MAYMOVE_ | MREMAP_DONTUNMAP_, MREMAP_MAYMOVE_ | MREMAP_FIXED_ | MREMAP_DONTUNMAP_,
                                     MREMAP_FIXED_, MREMAP_DONTUNMAP_, 8, MREMAP_MAYMOVE_ | 8};
  int flags = flag_choices[pick(fw, 9)];
  o->arg = flags;
  int new_pages;
  int g = below(100);
  if (g < 25) new_pages = old_pages - 1 - below(old_pages > 1 ? old_pages - 1 : 1);
  else if (g < 45) new_pages = old_pages;
  else new_pages = old_pages + 1 + below(6);
  if (new_pages < 1) new_pages = 1;
  if (flags & MREMAP_DONTUNMAP_) new_pages = chance(85) ? old_pages : new_pages;
  if (new_pages > SLOT_MAX) new_pages = SLOT_MAX;
  o->l = (struct len){(int16_t)old_pages, REM_0};
  o->l2 = (struct len){(int16_t)new_pages, REM_0};
  if (chance(8)) o->l.rem = REM_M1;
  if (chance(8)) o->l2.rem = chance(50) ? REM_M1 : REM_HALF;
  if (chance(2)) o->l2 = (struct len){0, REM_0};
  if (chance(2) && !off_oldlen0) o->l = (struct len){0, REM_0};
  if (off_mremap_span) clip_to_run(o);
  if ((flags & MREMAP_DONTUNMAP_) && off_dontunmap_unrounded && pages_of(len_bytes(o->l)) == pages_of(len_bytes(o->l2))) o->l2 = o->l;
  if (flags & MREMAP_FIXED_) {
    int target;
    int k = below(100);
    if (k < 20 && o->a.region == 'A' && !off_fixed_overlap) target = o->a.page + below(3) - 1;
    else if (k < 70) target = free_page(below(1000));
    else target = below(ARENA);
    int new_span = (int)pages_of(len_bytes(o->l2));
    if (target < 0) target = below(ARENA);
    if (target + new_span > ARENA) target = ARENA - new_span;
    if (target < 0) target = 0;
    o->b = (struct loc){'A', 0, (int16_t)target, (uint8_t)(chance(3) && !off_fixed_overlap ? SUB_1 : SUB_0)};
    if (off_fixed_overlap && o->a.region == 'A') {
      int oe = o->a.page + (int)pages_of(len_bytes(o->l)), ne = target + new_span;
      if (target < oe && o->a.page < ne) o->b.region = 0, o->arg = flags & ~MREMAP_FIXED_;
    }
  }
}

static void gen_madvise(struct op *o) {
  o->kind = OP_MADVISE;
  some_range(o);
  static const struct {
    int advice;
    uint16_t weight;
  } choices[] = {
      {MADV_DONTNEED_, 18}, {MADV_FREE_, 12}, {MADV_NORMAL_, 3}, {MADV_RANDOM_, 4}, {MADV_SEQUENTIAL_, 4},
      {MADV_WILLNEED_, 4}, {MADV_REMOVE_, 4}, {MADV_DONTFORK_, 3}, {MADV_DOFORK_, 3}, {MADV_MERGEABLE_, 3},
      {MADV_UNMERGEABLE_, 3}, {MADV_HUGEPAGE_, 3}, {MADV_NOHUGEPAGE_, 3}, {MADV_DONTDUMP_, 3},
      {MADV_DODUMP_, 3}, {MADV_WIPEONFORK_, 3}, {MADV_KEEPONFORK_, 3}, {MADV_COLD_, 3},
      {MADV_PAGEOUT_, 3}, {MADV_POPULATE_READ_, 3}, {MADV_POPULATE_WRITE_, 3},
      {MADV_DONTNEED_LOCKED_, 3}, {MADV_COLLAPSE_, 1}, {MADV_GUARD_INSTALL_, 2},
      {MADV_GUARD_REMOVE_, 2}, {5, 1}, {7, 1}, {26, 1}, {99, 1}, {104, 1}, {-1, 1},
  };
  enum { N = sizeof choices / sizeof choices[0] };
  uint16_t w[N];
  for (int i = 0; i < N; i++) w[i] = choices[i].weight;
  int advice = choices[pick(w, N)].advice;
  if (advice >= 0 && advice < 128 && off_advice[advice]) advice = MADV_WILLNEED_;
  if (advice < 0 && off_advice[127]) advice = MADV_WILLNEED_;
  o->arg = advice;
  if (off_range_holes) clip_to_run(o);
}

static void gen_bad(struct op *o) {
  switch (below(6)) {
    case 0: /* mmap with a length or offset that must fail */
      o->kind = OP_MMAP;
      o->a = (struct loc){'N', 0, 0, 0};
      o->l = chance(50) ? (struct len){0, REM_0} : (struct len){0, off_huge_len ? REM_0 : (uint8_t)(chance(50) ? REM_MAX : REM_HUGE)};
      o->arg = PROT_READ_ | PROT_WRITE_;
      o->arg2 = MAP_PRIVATE_ | MAP_ANONYMOUS_;
      break;
    case 1: /* munmap of a bad range */
      o->kind = OP_MUNMAP;
      o->a = (struct loc){'A', 0, (int16_t)below(ARENA), (uint8_t)(chance(50) ? SUB_1 : SUB_0)};
      o->l = off_huge_len ? (struct len){0, REM_0} : (struct len){0, (uint8_t)(chance(50) ? REM_MAX : REM_HUGE)};
      break;
    case 2: /* madvise, mprotect, msync with a length that wraps */
    case 3:
      o->kind = (uint8_t)(below(3) == 0 ? OP_MADVISE : chance(50) ? OP_MPROTECT : OP_MSYNC);
      o->a = (struct loc){'A', 0, (int16_t)below(ARENA), 0};
      o->l = off_huge_len ? (struct len){1, REM_0} : (struct len){0, (uint8_t)(chance(50) ? REM_MAX : REM_HUGE)};
      o->arg = o->kind == OP_MADVISE ? MADV_DONTNEED_ : o->kind == OP_MPROTECT ? PROT_READ_ : MS_ASYNC_;
      break;
    default: /* mremap of an unaligned or empty old range */
      o->kind = OP_MREMAP;
      o->a = (struct loc){'A', 0, (int16_t)below(ARENA), (uint8_t)(chance(50) ? SUB_HALF : SUB_0)};
      o->l = (struct len){(int16_t)below(3), REM_0};
      o->l2 = (struct len){(int16_t)below(3), REM_0};
      o->arg = MREMAP_MAYMOVE_;
      if (off_oldlen0 && o->l.pages == 0) o->l.pages = 1;
      break;
  }
}

static void gen_op(struct op *o) {
  memset(o, 0, sizeof *o);
  /* An almost empty arena gets mappings first, so that the other calls have something to meet. */
  int mapped_pages = 0;
  for (int i = 0; i < ARENA; i++) mapped_pages += model[ARENA0 + i].prot >= 0;
  static const uint16_t w[] = {30, 12, 18, 14, 10, 4, 8, 4};
  int kind = pick(w, 8);
  if (mapped_pages < 8 && chance(60)) kind = 0;
  switch (kind) {
    case 0: gen_mmap(o); break;
    case 1: o->kind = OP_MUNMAP; some_range(o); break;
    case 2: gen_mremap(o); break;
    case 3: gen_madvise(o); break;
    case 4:
      o->kind = OP_MPROTECT;
      some_range(o);
      o->arg = some_prot(1);
      if (off_range_holes) clip_to_run(o);
      break;
    case 5: {
      o->kind = OP_MSYNC;
      some_range(o);
      static const int flags[] = {MS_ASYNC_, MS_ASYNC_, MS_SYNC_, MS_INVALIDATE_, MS_ASYNC_ | MS_INVALIDATE_,
                                  MS_SYNC_ | MS_INVALIDATE_, 0, MS_ASYNC_ | MS_SYNC_, 8};
      o->arg = flags[below(9)];
      if (off_range_holes) clip_to_run(o);
      break;
    }
    case 6: o->kind = OP_WRITE; some_range(o); break;
    default: gen_bad(o); break;
  }
}

static void run_random(uint64_t seed, int steps) {
  rng_state = seed * 0xD1342543DE82EF95ull + 1;
  put_str("seed ");
  put_u64(seed);
  end_line();
  if (!setup()) {
    put_str("setup-failed");
    end_line();
    return;
  }
  for (int step = 1; step <= steps; step++) {
    struct op o;
    gen_op(&o);
    run_op(&o, step);
  }
  print_state("final", 1);
  teardown();
  put_str("end");
  end_line();
}

/* ---------------------------------------------------------------------------------------- */
/* Directed cases, from the man pages (mmap(2), munmap(2), mremap(2), madvise(2), mprotect(2),
 * msync(2)) and from the divergences listed in issue #12. Each starts from an empty region. */

#define A_(p) {'A', 0, (p), 0}
#define AS(p, s) {'A', 0, (p), (s)}
#define F_(k, p) {'F', (k), (p), 0}
#define NUL {'N', 0, 0, 0}
#define P_(n) {(n), REM_0}
#define PR(n, r) {(n), (r)}
#define RW (PROT_READ_ | PROT_WRITE_)
#define PA (MAP_PRIVATE_ | MAP_ANONYMOUS_)
#define SA (MAP_SHARED_ | MAP_ANONYMOUS_)
#define FIX MAP_FIXED_
#define NOREP MAP_FIXED_NOREPLACE_
#define MMAP(at, len, prot, flags) {.kind = OP_MMAP, .write = 1, .a = at, .l = len, .arg = (prot), .arg2 = (flags)}
#define MMAPNW(at, len, prot, flags) {.kind = OP_MMAP, .a = at, .l = len, .arg = (prot), .arg2 = (flags)}
#define MMAPOFF(at, len, prot, flags, o) {.kind = OP_MMAP, .off = (o), .a = at, .l = len, .arg = (prot), .arg2 = (flags)}
#define MUNMAP(at, len) {.kind = OP_MUNMAP, .a = at, .l = len}
#define MREMAP(at, ol, nl, fl) {.kind = OP_MREMAP, .a = at, .l = ol, .l2 = nl, .arg = (fl)}
#define MREMAPTO(at, ol, nl, fl, to) {.kind = OP_MREMAP, .a = at, .l = ol, .l2 = nl, .arg = (fl), .b = to}
#define MADV(at, len, adv) {.kind = OP_MADVISE, .a = at, .l = len, .arg = (adv)}
#define MPROT(at, len, prot) {.kind = OP_MPROTECT, .a = at, .l = len, .arg = (prot)}
#define MSYNC(at, len, fl) {.kind = OP_MSYNC, .a = at, .l = len, .arg = (fl)}
#define WRITE(at, len) {.kind = OP_WRITE, .a = at, .l = len}
#define END {.kind = OP_END}
#define MM MREMAP_MAYMOVE_
#define MF (MREMAP_MAYMOVE_ | MREMAP_FIXED_)
#define MD (MREMAP_MAYMOVE_ | MREMAP_DONTUNMAP_)

struct directed {
  const char *name;
  struct op ops[40];
  /* 0: one sequence. n > 0: the first n-1 calls set up, and every later call runs on its own
   * after them, as unit NAME#k (k its place in the list), so that one divergence hides no
   * other. */
  int split;
};

/* madvise(2): "madvise(0, 0, advice) will return zero iff advice is supported by the kernel". */
#define PROBE(adv) MADV(NUL, P_(0), adv)

static const struct directed cases[] = {
    {"madvise-probe",
     {PROBE(0), PROBE(1), PROBE(2), PROBE(3), PROBE(4), PROBE(5), PROBE(6), PROBE(7), PROBE(8), PROBE(9),
      PROBE(10), PROBE(11), PROBE(12), PROBE(13), PROBE(14), PROBE(15), PROBE(16), PROBE(17), PROBE(18),
      PROBE(19), PROBE(20), PROBE(21), PROBE(22), PROBE(23), PROBE(24), PROBE(25), PROBE(26), PROBE(27),
      PROBE(99), PROBE(102), PROBE(103), PROBE(104), PROBE(-1), END}, 1},
    /* Each advice on written private anonymous pages, then a read back. */
    {"madvise-private",
     {MMAP(A_(0), P_(30), RW, PA | FIX), MADV(A_(0), P_(1), 0), MADV(A_(1), P_(1), 1), MADV(A_(2), P_(1), 2),
      MADV(A_(3), P_(1), 3), MADV(A_(4), P_(1), 4), MADV(A_(5), P_(1), 8), MADV(A_(6), P_(1), 9),
      MADV(A_(7), P_(1), 10), MADV(A_(8), P_(1), 11), MADV(A_(9), P_(1), 12), MADV(A_(10), P_(1), 13),
      MADV(A_(11), P_(1), 14), MADV(A_(12), P_(1), 15), MADV(A_(13), P_(1), 16), MADV(A_(14), P_(1), 17),
      MADV(A_(15), P_(1), 18), MADV(A_(16), P_(1), 19), MADV(A_(17), P_(1), 20), MADV(A_(18), P_(1), 21),
      MADV(A_(19), P_(1), 22), MADV(A_(20), P_(1), 23), MADV(A_(21), P_(1), 24), MADV(A_(22), P_(1), 25),
      MADV(A_(23), P_(1), 102), MADV(A_(23), P_(1), 103), MADV(A_(24), P_(1), 5), MADV(A_(25), P_(1), 26), END}, 2},
    {"madvise-shared",
     {MMAP(A_(0), P_(30), RW, SA | FIX), MADV(A_(1), P_(1), 1), MADV(A_(3), P_(1), 3), MADV(A_(4), P_(1), 4),
      MADV(A_(5), P_(1), 8), MADV(A_(6), P_(1), 9), MADV(A_(7), P_(1), 10), MADV(A_(9), P_(1), 12),
      MADV(A_(11), P_(1), 14), MADV(A_(13), P_(1), 16), MADV(A_(15), P_(1), 18), MADV(A_(17), P_(1), 20),
      MADV(A_(18), P_(1), 21), MADV(A_(19), P_(1), 22), MADV(A_(20), P_(1), 23), MADV(A_(21), P_(1), 24),
      MADV(A_(22), P_(1), 25), MADV(A_(23), P_(1), 102), END}, 2},
    /* Issue #12 item 2: the advice still applies to the mapped pages around a hole. */
    {"madvise-dontneed-hole",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MMAP(A_(3), P_(2), RW, PA | FIX), MADV(A_(0), P_(5), MADV_DONTNEED_), END}, 0},
    /* A flag-setting advice over a hole splits the mappings around it before ENOMEM. */
    {"madvise-hole-split",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MADV(A_(2), P_(3), MADV_RANDOM_), MREMAP(A_(0), P_(4), P_(5), MM), END}, 0},
    {"madvise-errors",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MADV(AS(0, SUB_1), P_(1), MADV_DONTNEED_), MADV(A_(0), P_(0), MADV_DONTNEED_),
      MADV(A_(0), PR(0, REM_MAX), MADV_DONTNEED_), MADV(A_(0), PR(0, REM_HUGE), MADV_DONTNEED_),
      MADV(A_(4), P_(1), MADV_WILLNEED_), MADV(A_(2), P_(4), MADV_NORMAL_), MADV(A_(0), PR(1, REM_P1), MADV_DONTNEED_), END}, 2},
    /* Issue #12 item 12: MADV_FREE over private then shared. */
    {"madvise-free-shared",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MMAP(A_(2), P_(2), RW, SA | FIX), MADV(A_(0), P_(6), MADV_FREE_),
      MADV(A_(0), P_(4), MADV_FREE_), MADV(A_(2), P_(2), MADV_FREE_), END}, 0},
    {"madvise-locked",
     {MMAP(A_(0), P_(2), RW, PA | FIX | MAP_LOCKED_), MADV(A_(0), P_(1), MADV_DONTNEED_),
      MADV(A_(0), P_(1), MADV_DONTNEED_LOCKED_), MADV(A_(1), P_(1), MADV_FREE_), END}, 2},
    /* Issue #12 item 3: a shrinking mremap whose old range runs past its mapping. */
    {"mremap-shrink-past-mapping",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(4), P_(1), 0), END}, 0},
    /* mremap(2) checks nothing when the size stays: Linux returns the old address. */
    {"mremap-same-size",
     {MREMAP(A_(0), P_(2), P_(2), 0), MMAP(A_(4), P_(2), RW, PA | FIX), MREMAP(A_(4), P_(4), P_(4), MM), END}, 0},
    {"mremap-shrink-over-neighbour",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MMAP(A_(2), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(4), P_(1), 0),
      MREMAP(A_(2), P_(3), P_(3), 0), END}, 0},
    /* Issue #12 item 4: growing a shared anonymous mapping. */
    {"mremap-grow-shared",
     {MMAP(A_(0), P_(2), RW, SA | FIX), MREMAP(A_(0), P_(2), P_(4), 0), MREMAP(A_(0), P_(4), P_(1), 0),
      MREMAP(A_(0), P_(1), P_(2), 0), WRITE(A_(0), P_(4)), END}, 0},
    /* Issue #12 item 5. */
    {"map-shared-validate-anon",
     {MMAP(A_(0), P_(1), RW, MAP_SHARED_VALIDATE_ | MAP_ANONYMOUS_ | FIX),
      MMAP(A_(2), P_(1), RW, MAP_SHARED_VALIDATE_ | MAP_ANONYMOUS_ | FIX | MAP_STACK_),
      MMAP(NUL, P_(1), RW, MAP_SHARED_VALIDATE_ | MAP_ANONYMOUS_), END}, 1},
    /* Issue #12 item 6: MREMAP_DONTUNMAP with lengths equal once rounded. */
    {"mremap-dontunmap-unrounded",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(2), PR(1, REM_P1), MD), MREMAP(A_(4), PR(1, REM_HALF), P_(1), MD), END}, 0},
    {"mremap-dontunmap",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(2), P_(2), MD), MMAP(A_(4), P_(2), RW, SA | FIX),
      MREMAP(A_(4), P_(2), P_(2), MD), MREMAPTO(A_(0), P_(2), P_(2), MF | MREMAP_DONTUNMAP_, A_(10)),
      MREMAP(A_(10), P_(2), P_(3), MD), MREMAP(A_(10), P_(2), P_(2), MREMAP_DONTUNMAP_), END}, 0},
    /* Issue #12 item 7: PROT_SEM and other bits. */
    {"prot-unknown-bits",
     {MMAP(A_(0), P_(1), RW, PA | FIX), MMAP(A_(2), P_(1), RW | PROT_SEM_, PA | FIX), MMAP(A_(4), P_(1), RW | 0x10, PA | FIX),
      MMAP(A_(6), P_(1), RW | 0x40000000, PA | FIX), MPROT(A_(0), P_(1), PROT_READ_ | PROT_SEM_),
      MPROT(A_(0), P_(1), PROT_READ_ | 0x10), MPROT(A_(0), P_(1), PROT_READ_ | PROT_GROWSDOWN_),
      MPROT(A_(0), P_(1), PROT_READ_ | PROT_GROWSUP_), MPROT(A_(0), P_(1), PROT_READ_ | PROT_GROWSDOWN_ | PROT_GROWSUP_),
      MPROT(A_(0), P_(0), 0x10), MPROT(A_(8), P_(1), PROT_READ_ | PROT_SEM_), END}, 2},
    /* Issue #12 item 8: MADV_RANDOM splits the mapping. */
    {"madvise-random-split",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MADV(A_(0), P_(2), MADV_RANDOM_), MREMAP(A_(0), P_(4), P_(5), MM),
      MMAP(A_(10), P_(4), RW, PA | FIX), MADV(A_(12), P_(2), MADV_SEQUENTIAL_), MREMAPTO(A_(10), P_(4), P_(4), MF, A_(20)), END}, 0},
    {"madvise-split-then-rejoin",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MADV(A_(0), P_(2), MADV_HUGEPAGE_), MADV(A_(0), P_(2), MADV_NOHUGEPAGE_),
      MREMAP(A_(0), P_(4), P_(5), 0), MADV(A_(10), P_(1), MADV_DONTFORK_), END}, 0},
    /* Issue #12 item 9: neighbours kept apart by Linux. */
    {"mremap-written-neighbours",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MMAP(A_(2), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(4), P_(5), MM), END}, 0},
    {"mremap-unwritten-neighbours",
     {MMAPNW(A_(0), P_(2), RW, PA | FIX), MMAPNW(A_(2), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(4), P_(5), MM), END}, 0},
    {"mremap-neighbour-of-moved",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAPTO(A_(0), P_(2), P_(2), MF, A_(10)), MMAPNW(A_(12), P_(2), RW, PA | FIX),
      MREMAP(A_(10), P_(4), P_(5), MM), END}, 0},
    {"mremap-neighbour-after-mprotect",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MPROT(A_(2), P_(2), PROT_READ_), MREMAP(A_(0), P_(4), P_(5), MM),
      MPROT(A_(2), P_(2), RW), MREMAP(A_(0), P_(4), P_(5), MM), END}, 0},
    {"mremap-shared-neighbours",
     {MMAP(A_(0), P_(2), RW, SA | FIX), MMAP(A_(2), P_(2), RW, SA | FIX), MREMAP(A_(0), P_(4), P_(5), MM), END}, 0},
    /* Issue #12 item 10: Linux 6.17 moves several mappings at once. */
    {"mremap-fixed-several",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MMAP(A_(2), P_(2), PROT_READ_, PA | FIX), MREMAPTO(A_(0), P_(4), P_(4), MF, A_(20)),
      MMAP(A_(30), P_(2), RW, PA | FIX), MMAP(A_(33), P_(2), RW, PA | FIX), MREMAPTO(A_(30), P_(5), P_(5), MF, A_(40)), END}, 0},
    /* Issue #12 item 11: new range overlapping the old one, old range not mapped. */
    {"mremap-fixed-errno-order",
     {MREMAPTO(A_(0), P_(2), P_(2), MF, A_(1)), MMAP(A_(10), P_(2), RW, PA | FIX),
      MREMAPTO(A_(10), P_(2), P_(2), MF, A_(11)), MREMAPTO(A_(20), P_(2), P_(2), MF, AS(30, SUB_1)), END}, 0},
    /* Issue #12, last paragraph: flags Linux accepts. */
    {"map-flags",
     {MMAP(A_(0), P_(1), RW, PA | FIX | MAP_STACK_), MMAP(A_(2), P_(1), RW, PA | FIX | MAP_DENYWRITE_),
      MMAP(A_(4), P_(1), RW, PA | FIX | MAP_EXECUTABLE_), MMAP(A_(6), P_(1), RW, PA | FIX | MAP_LOCKED_),
      MMAP(A_(8), P_(1), RW, PA | FIX | MAP_NONBLOCK_), MMAP(A_(10), P_(1), RW, PA | FIX | MAP_GROWSDOWN_),
      MMAP(A_(12), P_(1), RW, PA | FIX | MAP_UNINITIALIZED_), MMAP(A_(14), P_(1), RW, PA | FIX | MAP_UNKNOWN_BIT_),
      MMAP(A_(16), P_(1), RW, PA | FIX | MAP_SYNC_), MMAP(A_(18), P_(1), RW, SA | FIX | MAP_STACK_),
      MMAP(A_(20), P_(1), RW, MAP_SHARED_VALIDATE_ | FIX | MAP_STACK_), MMAP(A_(22), P_(1), RW, MAP_SHARED_VALIDATE_ | MAP_ANONYMOUS_ | FIX | MAP_SYNC_),
      MMAP(A_(24), P_(1), RW, MAP_SHARED_VALIDATE_ | MAP_ANONYMOUS_ | FIX | MAP_UNKNOWN_BIT_),
      MMAP(NUL, P_(1), RW, PA | MAP_STACK_), MMAP(A_(26), P_(1), RW, PA | FIX | MAP_NORESERVE_ | MAP_POPULATE_), END}, 1},
    {"map-hugetlb", {MMAP(NUL, P_(1), RW, PA | MAP_HUGETLB_), END}, 0},
    {"map-droppable", {MMAPNW(A_(0), P_(2), RW, MAP_DROPPABLE_ | MAP_ANONYMOUS_ | FIX), MMAPNW(A_(4), P_(2), RW, MAP_DROPPABLE_ | FIX), END}, 0},
    {"mmap-errors",
     {MMAP(NUL, P_(0), RW, PA), MMAP(NUL, PR(0, REM_MAX), RW, PA), MMAP(NUL, PR(0, REM_HUGE), RW, PA),
      MMAP(NUL, P_(1), RW, MAP_ANONYMOUS_), MMAP(NUL, P_(1), RW, 4 | MAP_ANONYMOUS_), MMAP(NUL, P_(1), RW, 7 | MAP_ANONYMOUS_),
      MMAP(NUL, P_(1), RW, 15 | MAP_ANONYMOUS_), MMAP(AS(0, SUB_1), P_(1), RW, PA | FIX),
      MMAP(AS(0, SUB_1), P_(1), RW, PA | NOREP), MMAPOFF(A_(0), P_(1), RW, PA | FIX, OFF_1),
      MMAPOFF(A_(0), P_(1), RW, PA | FIX, OFF_PAGE), MMAPOFF(A_(2), P_(1), RW, SA | FIX, OFF_PAGE),
      MMAP(A_(4), P_(1), RW, MAP_PRIVATE_ | FIX), END}, 1},
    {"mmap-fixed",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MMAP(A_(1), P_(2), RW, PA | FIX), MMAP(A_(3), P_(2), RW, PA | NOREP),
      MMAP(A_(4), P_(2), RW, PA | NOREP), MMAP(A_(8), PR(1, REM_P1), RW, PA | FIX), MMAP(A_(5), P_(3), RW, PA | FIX | NOREP),
      MMAP(A_(12), P_(1), PROT_NONE_, PA | FIX), MPROT(A_(12), P_(1), RW), END}, 0},
    {"mmap-hint",
     {MMAP(A_(0), P_(2), RW, PA), MMAP(AS(4, SUB_HALF), P_(2), RW, PA), MMAP(A_(1), P_(2), RW, PA),
      MMAP(A_(8), P_(2), RW, SA), MMAP(NUL, P_(3), RW, PA), MMAP(NUL, P_(3), RW, SA), END}, 0},
    {"munmap",
     {MMAP(A_(0), P_(6), RW, PA | FIX), MUNMAP(A_(2), P_(1)), MUNMAP(A_(2), P_(1)), MUNMAP(AS(3, SUB_1), P_(1)),
      MUNMAP(A_(3), P_(0)), MUNMAP(A_(3), PR(0, REM_MAX)), MUNMAP(A_(4), PR(0, REM_HALF)), MUNMAP(A_(0), P_(10)),
      MUNMAP(A_(40), P_(4)), END}, 0},
    {"mremap-errors",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(2), P_(3), 8), MREMAPTO(A_(0), P_(2), P_(2), MREMAP_FIXED_, A_(10)),
      MREMAP(A_(0), P_(2), P_(2), MREMAP_DONTUNMAP_), MREMAP(AS(0, SUB_1), P_(1), P_(2), MM), MREMAP(A_(0), P_(2), P_(0), MM),
      MREMAP(A_(0), P_(0), P_(2), MM), MREMAP(A_(6), P_(1), P_(2), MM), MREMAP(A_(0), P_(2), PR(0, REM_MAX), MM),
      MREMAPTO(A_(0), P_(2), P_(2), MF, AS(10, SUB_1)), MREMAPTO(A_(0), P_(2), P_(2), MF, A_(1)), END}, 2},
    {"mremap-grow",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MREMAP(A_(0), P_(2), P_(4), 0), MMAP(A_(4), P_(1), RW, PA | FIX),
      MREMAP(A_(0), P_(4), P_(6), 0), MREMAP(A_(0), P_(4), P_(6), MM), MREMAP(F_(0, 0), P_(6), P_(10), MM),
      MREMAPTO(F_(0, 0), P_(10), P_(3), MF, A_(20)), END}, 0},
    {"mremap-oldlen0-shared",
     {MMAP(A_(0), P_(2), RW, SA | FIX), MREMAP(A_(0), P_(0), P_(2), MM), MMAP(A_(4), P_(2), RW, PA | FIX),
      MREMAP(A_(4), P_(0), P_(2), MM), END}, 0},
    {"mprotect",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MPROT(AS(0, SUB_1), P_(1), PROT_READ_), MPROT(A_(0), P_(0), PROT_READ_),
      MPROT(A_(2), P_(4), PROT_READ_), MPROT(A_(4), P_(2), PROT_READ_), MPROT(A_(0), P_(1), PROT_NONE_),
      MPROT(A_(0), PR(0, REM_HUGE), PROT_READ_), MPROT(A_(0), P_(2), RW | PROT_EXEC_), END}, 2},
    /* mprotect over a hole: Linux changes the part before it (seen as a split by mremap, and as a
     * fault when the program reads a page it thinks readable). */
    {"mprotect-hole",
     {MMAP(A_(0), P_(4), RW, PA | FIX), MPROT(A_(2), P_(3), PROT_READ_), MREMAP(A_(0), P_(4), P_(5), MM),
      MMAP(A_(10), P_(2), RW, PA | FIX), MPROT(A_(10), P_(3), PROT_NONE_), END}, 0},
    {"msync",
     {MMAP(A_(0), P_(2), RW, PA | FIX), MSYNC(A_(0), P_(2), MS_ASYNC_), MSYNC(A_(0), P_(2), MS_SYNC_),
      MSYNC(A_(0), P_(2), MS_INVALIDATE_), MSYNC(A_(0), P_(2), MS_ASYNC_ | MS_SYNC_), MSYNC(A_(0), P_(2), 8),
      MSYNC(AS(0, SUB_1), P_(1), MS_ASYNC_), MSYNC(A_(0), P_(0), MS_ASYNC_), MSYNC(A_(0), P_(3), MS_ASYNC_),
      MSYNC(A_(2), P_(1), MS_SYNC_), MSYNC(A_(0), PR(0, REM_HUGE), MS_ASYNC_), MSYNC(A_(0), P_(2), 0), END}, 2},
};

static void run_unit(const char *name, long index, const struct op *setup_ops, int setup_count, const struct op *ops, int count, int first_step) {
  put_str("case ");
  put_str(name);
  if (index >= 0) put_char('#'), put_i64(index);
  end_line();
  if (!setup()) {
    put_str("setup-failed");
    end_line();
    return;
  }
  for (int i = 0; i < setup_count; i++) run_op(&setup_ops[i], i + 1);
  for (int i = 0; i < count; i++) run_op(&ops[i], first_step + i);
  print_state("final", 1);
  teardown();
  put_str("end");
  end_line();
}

static void run_directed(const char *only) {
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const struct directed *d = &cases[c];
    int n = 0;
    while (d->ops[n].kind != OP_END) n++;
    size_t name_len = strlen(d->name);
    int whole = !only || strcmp(only, d->name) == 0;
    if (d->split == 0) {
      if (whole) run_unit(d->name, -1, 0, 0, d->ops, n, 1);
      continue;
    }
    int setup_count = d->split - 1;
    for (int i = setup_count; i < n; i++) {
      /* "NAME" runs every unit of the case, "NAME#k" one of them. */
      if (!whole && !(strncmp(only, d->name, name_len) == 0 && only[name_len] == '#' && parse_long(only + name_len + 1) == i + 1)) continue;
      run_unit(d->name, i + 1, d->ops, setup_count, &d->ops[i], 1, i + 1);
    }
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Scripts: call lines as the program prints them, given back as arguments (everything from
 * " {" or " =>" on is ignored, and so is a leading step number). The runner uses this to cut
 * a diverging sequence down to the calls that matter. */

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int parse_sub(const char *s, uint8_t *sub) {
  if (*s == 0) *sub = SUB_0;
  else if (strcmp(s, "+1") == 0) *sub = SUB_1;
  else if (strcmp(s, "+h") == 0) *sub = SUB_HALF;
  else return 0;
  return 1;
}
static int parse_loc(const char *s, struct loc *l) {
  memset(l, 0, sizeof *l);
  if (strcmp(s, "0") == 0) {
    l->region = 'N';
    return 1;
  }
  if (s[0] == 'A' && s[1] == '+') {
    l->region = 'A';
    s += 2;
  } else if (s[0] == 'F' && is_digit(s[1])) {
    l->region = 'F';
    s++;
    l->slot = (int8_t)parse_number(&s);
    if (*s++ != '+' || l->slot >= NSLOT) return 0;
  } else {
    return 0;
  }
  l->page = (int16_t)parse_number(&s);
  return parse_sub(s, &l->sub);
}
static int parse_len(const char *s, struct len *l) {
  l->pages = 0;
  l->rem = REM_0;
  if (strcmp(s, "max") == 0) l->rem = REM_MAX;
  else if (strcmp(s, "huge") == 0) l->rem = REM_HUGE;
  else {
    l->pages = (int16_t)parse_number(&s);
    if (*s++ != 'p') return 0;
    if (strcmp(s, "+1") == 0) l->rem = REM_P1;
    else if (strcmp(s, "+h") == 0) l->rem = REM_HALF;
    else if (strcmp(s, "-1") == 0) l->rem = REM_M1;
    else if (*s) return 0;
  }
  return 1;
}
static int parse_prot(const char *s, int32_t *prot) {
  int v = 0;
  if (starts_with(s, "none")) s += 4;
  else
    for (; *s == 'r' || *s == 'w' || *s == 'x'; s++) v |= *s == 'r' ? PROT_READ_ : *s == 'w' ? PROT_WRITE_ : PROT_EXEC_;
  if (*s == '+') {
    s++;
    if (strcmp(s, "SEM") == 0) v |= PROT_SEM_;
    else if (strcmp(s, "GROWSDOWN") == 0) v |= PROT_GROWSDOWN_;
    else if (strcmp(s, "GROWSUP") == 0) v |= PROT_GROWSUP_;
    else v |= (int)parse_number(&s);
  } else if (*s) {
    return 0;
  }
  *prot = v;
  return 1;
}
/* Flags written NAME|NAME|0x..., from the given table (and, for mmap, the map types). */
static int parse_flags(const char *s, const struct flag_name *names, int map, int32_t *flags) {
  int v = 0;
  while (*s) {
    const char *end = strchr(s, '|');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    int found = 0;
    if (is_digit(*s)) {
      const char *t = s;
      v |= (int)parse_number(&t);
      found = 1;
    } else if (map && n > 4 && starts_with(s, "TYPE")) {
      const char *t = s + 4;
      v |= (int)parse_number(&t);
      found = 1;
    }
    static const struct flag_name types[] = {{MAP_SHARED_VALIDATE_, "SHARED_VALIDATE"}, {MAP_SHARED_, "SHARED"},
                                             {MAP_PRIVATE_, "PRIVATE"}, {MAP_DROPPABLE_, "DROPPABLE"}, {0, 0}};
    for (const struct flag_name *f = types; map && !found && f->bit; f++)
      if (strlen(f->name) == n && strncmp(s, f->name, n) == 0) v |= f->bit, found = 1;
    for (const struct flag_name *f = names; !found && f->bit; f++)
      if (strlen(f->name) == n && strncmp(s, f->name, n) == 0) v |= f->bit, found = 1;
    if (!found) return 0;
    s = end ? end + 1 : s + n;
  }
  *flags = v;
  return 1;
}
static int parse_advice(const char *s, int32_t *advice) {
  if (starts_with(s, "advice=")) {
    s += 7;
    *advice = (int32_t)parse_number(&s);
    return 1;
  }
  for (int a = 0; a < 128; a++) {
    const char *name = advice_name(a);
    if (name && strcmp(name, s) == 0) {
      *advice = a;
      return 1;
    }
  }
  return 0;
}

static int parse_op(const char *line, struct op *o) {
  char buf[512], *words[16];
  int n = 0;
  size_t len = strlen(line);
  if (len >= sizeof buf) return 0;
  memcpy(buf, line, len + 1);
  char *cut = strstr(buf, " {");
  if (cut) *cut = 0;
  cut = strstr(buf, " =>");
  if (cut) *cut = 0;
  for (char *p = buf; *p && n < 16;) {
    while (*p == ' ') p++;
    if (!*p) break;
    words[n++] = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = 0;
  }
  int w = 0;
  if (w < n && is_digit(words[w][0])) w++; /* the step number */
  if (w + 3 > n) return 0;
  memset(o, 0, sizeof *o);
  const char *call = words[w++];
  if (!parse_loc(words[w++], &o->a) || !parse_len(words[w++], &o->l)) return 0;
  if (strcmp(call, "mmap") == 0) {
    o->kind = OP_MMAP;
    for (; w < n; w++) {
      if (starts_with(words[w], "prot=")) {
        if (!parse_prot(words[w] + 5, &o->arg)) return 0;
      } else if (starts_with(words[w], "flags=")) {
        if (!parse_flags(words[w] + 6, map_flag_names, 1, &o->arg2)) return 0;
      } else if (strcmp(words[w], "off=1p") == 0) o->off = OFF_PAGE;
      else if (strcmp(words[w], "off=1") == 0) o->off = OFF_1;
      else if (strcmp(words[w], "+w") == 0) o->write = 1;
      else if (strcmp(words[w], "fd=-1") != 0) return 0;
    }
  } else if (strcmp(call, "mremap") == 0) {
    o->kind = OP_MREMAP;
    if (w + 2 > n || !parse_len(words[w++], &o->l2)) return 0;
    if (!starts_with(words[w], "flags=") || !parse_flags(words[w] + 6, mremap_flag_names, 0, &o->arg)) return 0;
    w++;
    if (w < n && !parse_loc(words[w++], &o->b)) return 0;
  } else if (strcmp(call, "madvise") == 0) {
    o->kind = OP_MADVISE;
    if (w >= n || !parse_advice(words[w++], &o->arg)) return 0;
  } else if (strcmp(call, "mprotect") == 0) {
    o->kind = OP_MPROTECT;
    if (w >= n || !starts_with(words[w], "prot=") || !parse_prot(words[w] + 5, &o->arg)) return 0;
    w++;
  } else if (strcmp(call, "msync") == 0) {
    o->kind = OP_MSYNC;
    if (w >= n || !starts_with(words[w], "flags=") || !parse_flags(words[w] + 6, msync_flag_names, 0, &o->arg)) return 0;
    w++;
  } else if (strcmp(call, "munmap") == 0) {
    o->kind = OP_MUNMAP;
  } else if (strcmp(call, "write") == 0) {
    o->kind = OP_WRITE;
  } else {
    return 0;
  }
  return 1;
}

/* A script's calls run from an empty region. A call that refers to a slot not in use (after
 * the runner removed the call that filled it) is skipped and says so. */
static void run_script(int count, char **lines) {
  put_str("script");
  end_line();
  if (!setup()) {
    put_str("setup-failed");
    end_line();
    return;
  }
  for (int i = 0; i < count; i++) {
    struct op o;
    if (!parse_op(lines[i], &o)) {
      put_str("bad-call ");
      put_str(lines[i]);
      end_line();
      continue;
    }
    if ((o.a.region == 'F' && !slots[o.a.slot].used) || (o.b.region == 'F' && !slots[o.b.slot].used)) {
      put_i64(i + 1);
      put_str(" skipped: no slot");
      end_line();
      continue;
    }
    run_op(&o, i + 1);
  }
  print_state("final", 1);
  teardown();
  put_str("end");
  end_line();
}

/* ---------------------------------------------------------------------------------------- */

/*
 *   difftest random SEED COUNT STEPS [off=FEATURE,...]   COUNT sequences from SEED on
 *   difftest directed [NAME]                              every directed case, or one
 *   difftest list                                         the directed cases' names
 *   difftest script CALL...                               the calls given, one per argument
 */
/* The arguments, copied before the first memory call: in the wasm build wasi-libc keeps argv in
 * memory from its own malloc, which starts at __heap_base, where the host's brk area starts too
 * (docs/abi.md); the region set up below may be given pages there. */
static char arg_store[1 << 16];
static char *arg_list[512];

int main(int argc, char **real_argv) {
  size_t used = 0;
  if (argc > (int)(sizeof arg_list / sizeof arg_list[0])) argc = sizeof arg_list / sizeof arg_list[0];
  for (int i = 0; i < argc; i++) {
    size_t n = strlen(real_argv[i]) + 1;
    if (used + n > sizeof arg_store) {
      argc = i;
      break;
    }
    arg_list[i] = memcpy(arg_store + used, real_argv[i], n);
    used += n;
  }
  char **argv = arg_list;
  platform_init();
  U = platform_page_size();
  if (argc >= 2 && strcmp(argv[1], "list") == 0) {
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) put_str(cases[c].name), end_line();
  } else if (argc >= 2 && strcmp(argv[1], "directed") == 0) {
    for (int i = 3; i < argc; i++)
      if (str_eq_n(argv[i], "off=", 4)) switch_off(argv[i] + 4);
    run_directed(argc >= 3 && !str_eq_n(argv[2], "off=", 4) ? argv[2] : 0);
  } else if (argc >= 2 && strcmp(argv[1], "script") == 0) {
    run_script(argc - 2, argv + 2);
  } else if (argc >= 5 && strcmp(argv[1], "random") == 0) {
    for (int i = 5; i < argc; i++)
      if (str_eq_n(argv[i], "off=", 4)) switch_off(argv[i] + 4);
    long seed = parse_long(argv[2]), count = parse_long(argv[3]), steps = parse_long(argv[4]);
    for (long k = 0; k < count; k++) run_random((uint64_t)(seed + k), (int)steps);
  } else {
    put_str("usage: difftest random SEED COUNT STEPS [off=...] | directed [NAME] | list | script CALL...");
    end_line();
    flush_out();
    return 2;
  }
  flush_out();
  return 0;
}
