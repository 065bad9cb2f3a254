"""What the investigator app reads, each query parameterised and bounded, in one package.

The app (ringwatch/webapp) and the latency benchmark (bench/app_latency.py) call the
functions here, so the benchmark times the app's own statements. Values typed by an
analyst only ever reach Cypher as parameters; every statement has a LIMIT.

  statements.py   every Cypher statement (text only)
  reads.py        q (a read with the app's 20 s timeout), key_param
  queue.py        QueueFilter, queue / queue_count / capabilities, status_counts, last_run
  ring.py         ring, members_rows / members_count / members_page, timeline / signups,
                  population, ring_view (everything the ring page reads, timed)
  subgraph.py     Node, Subgraph (bounded by a node budget), ring_graph, expand, entity_graph
  search.py       search, entity, rings_touching
  library.py      run_read_only (a library query, read-only, row limit, timeout), display/csv frames,
                  result_graph
  saved.py        saved views (:SavedView): save_view, load_view, ring_views, restore
  present.py      pure helpers: parse_json, top_capabilities, to_py, age_text, short_label,
                  timeline_series
"""
