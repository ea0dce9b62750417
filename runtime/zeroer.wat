;; The clearing primitive of runtime/zeroing.ts in wasm with SIMD, over the guest's own memory.
;;
;; Per page: find the first and the last non-zero 32-bit word, write zeros over that span and
;; nothing else. A page that reads as zero is only read: a never-touched page then maps the
;; kernel's shared zero page and commits nothing, where writing it would fault in and commit
;; a real page (issue #10, item 2).
;;
;;   page:  | 0 0 0 0 | 0 0 x 0 | 0 0 0 0 | 0 y 0 0 | 0 0 0 0 |   (64-byte blocks)
;;                          ^ first              ^ last
;;                          `------ written ------'
;;
;; Scans go forward only: read backwards, memory came at about half the speed here (the
;; hardware prefetcher follows ascending addresses). The last block is tried first, so a
;; fully written page costs one extra block read before its fill. Spans that meet (fully
;; written pages in a row) are written with one memory.fill: one fill per page cost twice a
;; plain fill over 4 KiB pages. V8 (Node 20) does not inline wasm calls, so the per-block
;; loops are written out; the helpers below run a few times per page, not per block.
;;
;; Words count from the page's start, as in the JavaScript zeroer, so both write the same
;; bytes and report the same count. Every page size (4 KiB..64 KiB) is a multiple of 64.
;;
;; scripts/build-zeroer.ts compiles this file into runtime/zeroer-wasm.ts, once as it stands
;; and once with the memory import rewritten as shared (a shared memory links only with an
;; import declared shared, with a maximum).
(module
  (import "env" "memory" (memory 0))

  ;; Clears `pages` pages of `pageSize` bytes from address `from`; returns the number of
  ;; 32-bit words written. Words, not bytes: clearing a whole 4 GiB memory writes 2^32 bytes,
  ;; which do not fit the i32 result; 2^30 words do. A page count rather than an end address
  ;; for the same reason: the end of a 4 GiB memory is 2^32.
  (func (export "clear") (param $from i32) (param $pages i32) (param $pageSize i32) (result i32)
    (local $page i32)       ;; address of the page being cleared
    (local $block i32)      ;; offset in the page of the first, then the last non-zero block
    (local $first i32)      ;; offset in the page of the first non-zero word
    (local $end i32)        ;; offset in the page just past the last non-zero word
    (local $runStart i32)   ;; the span not yet written: [runStart, runStart + runLength)
    (local $runLength i32)
    (local $written i32)    ;; words written or about to be (the pending span included)
    (local.set $page (local.get $from))
    (block $done
      (loop $nextPage
        (br_if $done (i32.eqz (local.get $pages)))
        (block $zeroPage
          (local.set $block (call $firstBlock (local.get $page) (local.get $pageSize)))
          (br_if $zeroPage (i32.eq (local.get $block) (local.get $pageSize)))
          (local.set $first
            (i32.add (local.get $block) (call $firstWord (i32.add (local.get $page) (local.get $block)))))
          ;; The last non-zero block: the page's last block if it is non-zero, else the last
          ;; non-zero one between the first block and it (the first block itself if none).
          (if (i32.eqz (call $firstBlock
                (i32.add (local.get $page) (i32.sub (local.get $pageSize) (i32.const 64))) (i32.const 64)))
            (then (local.set $block (i32.sub (local.get $pageSize) (i32.const 64))))
            (else
              (local.set $block
                (i32.add
                  (i32.add (local.get $block) (i32.const 64))
                  (call $lastBlock
                    (i32.add (i32.add (local.get $page) (local.get $block)) (i32.const 64))
                    (i32.sub (local.get $pageSize) (i32.add (local.get $block) (i32.const 128))))))))
          (local.set $end
            (i32.add (local.get $block) (call $endWord (i32.add (local.get $page) (local.get $block)))))
          (local.set $written
            (i32.add (local.get $written) (i32.shr_u (i32.sub (local.get $end) (local.get $first)) (i32.const 2))))
          ;; Extend the pending span when this one starts where it ends; the length stays
          ;; below 2^31 so that it cannot wrap.
          (if (i32.and
                (i32.eq (i32.add (local.get $runStart) (local.get $runLength)) (i32.add (local.get $page) (local.get $first)))
                (i32.lt_u (local.get $runLength) (i32.const 0x7fff0000)))
            (then (local.set $runLength (i32.add (local.get $runLength) (i32.sub (local.get $end) (local.get $first)))))
            (else
              (memory.fill (local.get $runStart) (i32.const 0) (local.get $runLength))
              (local.set $runStart (i32.add (local.get $page) (local.get $first)))
              (local.set $runLength (i32.sub (local.get $end) (local.get $first))))))
        ;; At the end of a 4 GiB memory $page wraps to 0 here, as $pages reaches 0.
        (local.set $page (i32.add (local.get $page) (local.get $pageSize)))
        (local.set $pages (i32.sub (local.get $pages) (i32.const 1)))
        (br $nextPage)))
    (memory.fill (local.get $runStart) (i32.const 0) (local.get $runLength))
    (local.get $written))

  ;; Offset in [at, at + length) of the first 64-byte block with a non-zero bit, or `length`.
  ;; v128.any_true is exact for every bit pattern (a float compare takes -0.0 for zero).
  (func $firstBlock (param $at i32) (param $length i32) (result i32)
    (local $offset i32) (local $address i32)
    (block $found
      (loop $next
        (br_if $found (i32.ge_u (local.get $offset) (local.get $length)))
        (local.set $address (i32.add (local.get $at) (local.get $offset)))
        (br_if $found (v128.any_true
          (v128.or
            (v128.or (v128.load offset=0 align=1 (local.get $address)) (v128.load offset=16 align=1 (local.get $address)))
            (v128.or (v128.load offset=32 align=1 (local.get $address)) (v128.load offset=48 align=1 (local.get $address))))))
        (local.set $offset (i32.add (local.get $offset) (i32.const 64)))
        (br $next)))
    (local.get $offset))

  ;; Offset in [at, at + length) of the last 64-byte block with a non-zero bit, or -64.
  ;; Reads forward and keeps the latest hit (with select, no branch per block).
  (func $lastBlock (param $at i32) (param $length i32) (result i32)
    (local $offset i32) (local $address i32) (local $last i32)
    (local.set $last (i32.const -64))
    (block $scanned
      (loop $next
        (br_if $scanned (i32.ge_u (local.get $offset) (local.get $length)))
        (local.set $address (i32.add (local.get $at) (local.get $offset)))
        (local.set $last (select (local.get $offset) (local.get $last) (v128.any_true
          (v128.or
            (v128.or (v128.load offset=0 align=1 (local.get $address)) (v128.load offset=16 align=1 (local.get $address)))
            (v128.or (v128.load offset=32 align=1 (local.get $address)) (v128.load offset=48 align=1 (local.get $address)))))))
        (local.set $offset (i32.add (local.get $offset) (i32.const 64)))
        (br $next)))
    (local.get $last))

  ;; One bit per 32-bit lane of the v128 at $at, set where the word is non-zero.
  (func $nonZeroWords (param $at i32) (result i32)
    (i32x4.bitmask (i32x4.ne (v128.load align=1 (local.get $at)) (v128.const i32x4 0 0 0 0))))

  ;; Offset in the non-zero 64-byte block at $at of its first non-zero word.
  (func $firstWord (param $at i32) (result i32)
    (local $vector i32) (local $lanes i32)
    (loop $next
      (local.set $lanes (call $nonZeroWords (i32.add (local.get $at) (local.get $vector))))
      (if (i32.eqz (local.get $lanes))
        (then
          (local.set $vector (i32.add (local.get $vector) (i32.const 16)))
          (br $next))))
    (i32.add (local.get $vector) (i32.shl (i32.ctz (local.get $lanes)) (i32.const 2))))

  ;; Offset in the non-zero 64-byte block at $at just past its last non-zero word.
  (func $endWord (param $at i32) (result i32)
    (local $vector i32) (local $lanes i32)
    (local.set $vector (i32.const 48))
    (loop $next
      (local.set $lanes (call $nonZeroWords (i32.add (local.get $at) (local.get $vector))))
      (if (i32.eqz (local.get $lanes))
        (then
          (local.set $vector (i32.sub (local.get $vector) (i32.const 16)))
          (br $next))))
    ;; Lane k is bit k: the last non-zero lane is 31 - clz, and its word ends 4 bytes later.
    (i32.add (local.get $vector) (i32.shl (i32.sub (i32.const 32) (i32.clz (local.get $lanes))) (i32.const 2))))
)
