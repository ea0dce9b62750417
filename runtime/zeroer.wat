;; The clearing primitive of runtime/zeroing.ts in wasm with SIMD, over the guest's own memory.
;;
;; Per 4 KiB block: find the first non-zero 32-bit word and write zeros from it to the block's
;; end; a block that reads as zero is only read. A never-touched block then maps the kernel's
;; shared zero page and commits nothing, where writing it would fault in and commit a real
;; page (issue #10, item 2); a block with data is resident already, so writing the rest of it
;; commits nothing and costs less than scanning on for its last non-zero word.
;;
;;   block: | 0 0 0 0 | 0 0 x 0 | 0 0 0 0 | 0 y 0 0 |   (64-byte groups)
;;                          ^ first
;;                          `------ written -------->| block end
;;
;; Spans that meet (blocks written from their first word on, in a row) are written with one
;; memory.fill: one fill per block cost twice a plain fill. V8 (Node 20) does not inline wasm
;; calls, so the per-group loop is written out; the helpers run once per block.
;;
;; Words count from the block's start, as in the JavaScript zeroer, so both write the same
;; bytes and report the same count.
;;
;; scripts/build-zeroer.ts compiles this file into runtime/zeroer-wasm.ts, once as it stands
;; and once with the memory import rewritten as shared (a shared memory links only with an
;; import declared shared, with a maximum).
(module
  (import "env" "memory" (memory 0))

  ;; Clears `blocks` blocks of 4 KiB from address `from`; returns the number of 32-bit words
  ;; written. Words, not bytes: clearing a whole 4 GiB memory writes 2^32 bytes, which do not
  ;; fit the i32 result; 2^30 words do. A block count rather than an end address for the same
  ;; reason: the end of a 4 GiB memory is 2^32.
  (func (export "clear") (param $from i32) (param $blocks i32) (result i32)
    (local $block i32)      ;; address of the block being cleared
    (local $first i32)      ;; offset in the block of its first non-zero word
    (local $runStart i32)   ;; the span not yet written: [runStart, runStart + runLength)
    (local $runLength i32)
    (local $written i32)    ;; words written or about to be (the pending span included)
    (local.set $block (local.get $from))
    (block $done
      (loop $nextBlock
        (br_if $done (i32.eqz (local.get $blocks)))
        (block $zeroBlock
          (local.set $first (call $firstGroup (local.get $block)))
          (br_if $zeroBlock (i32.eq (local.get $first) (i32.const 4096)))
          (local.set $first
            (i32.add (local.get $first) (call $firstWord (i32.add (local.get $block) (local.get $first)))))
          (local.set $written
            (i32.add (local.get $written) (i32.shr_u (i32.sub (i32.const 4096) (local.get $first)) (i32.const 2))))
          ;; Extend the pending span when this one starts where it ends; the length stays
          ;; below 2^31 so that it cannot wrap.
          (if (i32.and
                (i32.eq (i32.add (local.get $runStart) (local.get $runLength)) (i32.add (local.get $block) (local.get $first)))
                (i32.lt_u (local.get $runLength) (i32.const 0x7fff0000)))
            (then (local.set $runLength (i32.add (local.get $runLength) (i32.sub (i32.const 4096) (local.get $first)))))
            (else
              (memory.fill (local.get $runStart) (i32.const 0) (local.get $runLength))
              (local.set $runStart (i32.add (local.get $block) (local.get $first)))
              (local.set $runLength (i32.sub (i32.const 4096) (local.get $first))))))
        ;; At the end of a 4 GiB memory $block wraps to 0 here, as $blocks reaches 0.
        (local.set $block (i32.add (local.get $block) (i32.const 4096)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $nextBlock)))
    (memory.fill (local.get $runStart) (i32.const 0) (local.get $runLength))
    (local.get $written))

  ;; Offset in the 4 KiB block at $at of its first 64-byte group with a non-zero bit, or 4096.
  ;; v128.any_true is exact for every bit pattern (a float compare takes -0.0 for zero).
  (func $firstGroup (param $at i32) (result i32)
    (local $offset i32) (local $address i32)
    (block $found
      (loop $next
        (br_if $found (i32.ge_u (local.get $offset) (i32.const 4096)))
        (local.set $address (i32.add (local.get $at) (local.get $offset)))
        (br_if $found (v128.any_true
          (v128.or
            (v128.or (v128.load offset=0 align=1 (local.get $address)) (v128.load offset=16 align=1 (local.get $address)))
            (v128.or (v128.load offset=32 align=1 (local.get $address)) (v128.load offset=48 align=1 (local.get $address))))))
        (local.set $offset (i32.add (local.get $offset) (i32.const 64)))
        (br $next)))
    (local.get $offset))

  ;; One bit per 32-bit lane of the v128 at $at, set where the word is non-zero.
  (func $nonZeroWords (param $at i32) (result i32)
    (i32x4.bitmask (i32x4.ne (v128.load align=1 (local.get $at)) (v128.const i32x4 0 0 0 0))))

  ;; Offset in the non-zero 64-byte group at $at of its first non-zero word.
  (func $firstWord (param $at i32) (result i32)
    (local $vector i32) (local $lanes i32)
    (loop $next
      (local.set $lanes (call $nonZeroWords (i32.add (local.get $at) (local.get $vector))))
      (if (i32.eqz (local.get $lanes))
        (then
          (local.set $vector (i32.add (local.get $vector) (i32.const 16)))
          (br $next))))
    (i32.add (local.get $vector) (i32.shl (i32.ctz (local.get $lanes)) (i32.const 2))))
)
