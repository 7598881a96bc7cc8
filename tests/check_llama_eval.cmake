# lowbit_llama_eval (tests/CMakeLists.txt): lowbit-llama --eval on stories260K at
# its default size (16 sequences x 256 tokens sampled from the F32 model, seed 1)
# for the default schemes, and W8 again on the int8 path, with the KLD bounds
# of docs/embedding.md ("Quality"). test_llama's KLD case checks the same bounds
# with the same functions (make_reference, measure_quality); under
# LOWBIT_TEST_REDUCED (ASan+UBSan) it runs every scheme on a smaller sample and
# leaves the bounds to this test (plain build, the tool's -O2 code).
#   cmake -DTOOL=<lowbit-llama> -DMODEL=<stories260K.bin> -P check_llama_eval.cmake
foreach(v TOOL MODEL)
  if(NOT ${v})
    message(FATAL_ERROR "check_llama_eval.cmake: -D${v}=... is required")
  endif()
endforeach()

# run(<out prefix> <args...>): the tool's JSON rows; kld_<scheme> and top1_<scheme> set in the caller.
function(run prefix)
  execute_process(COMMAND ${TOOL} ${MODEL} --eval --json --threads 1 --spin 0 ${ARGN}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lowbit-llama --eval ${ARGN} failed (${rc}):\n${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(schemes)
  foreach(line IN LISTS lines)
    if(line MATCHES "\"scheme\": \"([^\"]+)\".*\"kld\": ([0-9.eE+-]+), \"top1\": ([0-9.eE+-]+)")
      set(s ${CMAKE_MATCH_1})
      list(APPEND schemes ${s})
      set(${prefix}kld_${s} ${CMAKE_MATCH_2} PARENT_SCOPE)
      set(${prefix}top1_${s} ${CMAKE_MATCH_3} PARENT_SCOPE)
      if(NOT CMAKE_MATCH_3 GREATER 0)
        message(FATAL_ERROR "${s}: top-1 agreement ${CMAKE_MATCH_3}, expected > 0")
      endif()
    endif()
  endforeach()
  set(${prefix}schemes ${schemes} PARENT_SCOPE)
endfunction()

set(failed 0)
# expect(<what> <condition words...>): the condition as if() reads it.
macro(expect what)
  if(${ARGN})
    message(STATUS "ok: ${what}")
  else()
    message(SEND_ERROR "FAILED: ${what}")
    set(failed 1)
  endif()
endmacro()

run("" --schemes f32,w8,w4g32,w4g32-gptq,q4_0,q4_k,w3g32,w2g32)
foreach(s f32 w8 w4g32 w4g32-gptq q4_0 q4_k w3g32 w2g32)
  if(NOT DEFINED kld_${s})
    message(FATAL_ERROR "no row for scheme ${s}")
  endif()
endforeach()
# The bounds (test_llama.cpp's KLD case says why each).
expect("f32 KLD ${kld_f32} is 0" kld_f32 EQUAL 0)
expect("w8 KLD ${kld_w8} <= 0.035" kld_w8 LESS_EQUAL 0.035)
expect("w4g32 KLD ${kld_w4g32} in (1, 4)" kld_w4g32 GREATER 1 AND kld_w4g32 LESS 4)
expect("w4g32-gptq KLD ${kld_w4g32-gptq} < w4g32's ${kld_w4g32}" kld_w4g32-gptq LESS kld_w4g32)
expect("q4_k KLD ${kld_q4_k} < w4g32's ${kld_w4g32}" kld_q4_k LESS kld_w4g32)
expect("q4_0 KLD ${kld_q4_0} < 4" kld_q4_0 LESS 4)
run(int8_ --path int8 --schemes w8)
expect("w8 on the int8 path: KLD ${int8_kld_w8} <= 0.06" int8_kld_w8 LESS_EQUAL 0.06)
if(failed)
  message(FATAL_ERROR "lowbit_llama_eval: a KLD bound failed")
endif()
