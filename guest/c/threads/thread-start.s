# wasi_thread_start(tid, start_arg): the entry wasi-threads' thread-spawn runs in a new instance
# (WebAssembly/wasi-threads, "Design choice: instance-per-thread"). Each instance has globals of
# its own, so __stack_pointer still holds the main thread's initial stack top and __tls_base
# the main instance's value; no C code may run before both name this thread's own memory.
#
# start_arg points at the thread's struct __pthread (pthread-internal.h):
#   +0 stack top, +4 TLS block, +8 start of its one mapping, +12 length of that mapping.
#
# __wasm_init_tls (made by wasm-ld for shared memories) copies the .tdata template into the
# block and points __tls_base at it. After the C part returns, a detached thread's mapping
# (stack, TLS, struct) is unmapped here: no C frame is left that could still touch it.
	.functype	__wasm_init_tls (i32) -> ()
	.functype	__wasi_mman_thread_main (i32, i32) -> (i32)
	.functype	__wasi_mman_thread_munmap (i32, i32) -> (i32)
	.import_module	__wasi_mman_thread_munmap, mman
	.import_name	__wasi_mman_thread_munmap, munmap
	.globaltype	__stack_pointer, i32

	.text
	.globl	wasi_thread_start
	.export_name	wasi_thread_start, wasi_thread_start
	.type	wasi_thread_start,@function
wasi_thread_start:
	.functype	wasi_thread_start (i32, i32) -> ()
	.local	i32
	local.get	1
	i32.load	0
	global.set	__stack_pointer
	local.get	1
	i32.load	4
	call	__wasm_init_tls
	local.get	0
	local.get	1
	call	__wasi_mman_thread_main
	# The C part returns the struct of a detached thread, 0 for a joinable one (its joiner
	# unmaps it).
	local.tee	2
	i32.eqz
	br_if	0
	local.get	2
	i32.load	8
	local.get	2
	i32.load	12
	call	__wasi_mman_thread_munmap
	drop
	end_function
