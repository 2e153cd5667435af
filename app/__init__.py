import os

# polars' allocator (a jemalloc of its own) keeps the pages a frame frees for 0.5 s, then 1 s more as
# "muzzy" pages that still count in RSS, before it gives them back (polars' defaults). An import frees
# and allocates its batches' frames many times a second, so 60-90 MB of memory already freed stayed in
# the 2M-row import's peak RSS; given back at once, the peak is that much lower at no measurable cost in
# time (docs/benchmarks.md, "Issue 14 leftovers"). polars appends this variable to its defaults when it
# loads, hence here, before any module of the app imports it; a value set outside wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
