"""The investigator app (Streamlit, multipage): what lives where.

  main.py      the entry: page config, st.navigation over views/, sidebar, the lost-database guard;
               `streamlit run ringwatch/webapp/main.py` serves it (app.py at the repository root
               just calls main.run())
  views/       one file per page: queue.py, ring.py, search.py, queries.py, export.py
  widgets.py   reusable pieces: the graph panel (canvas + expansion) and the decision and undo forms
  canvas.py    the graph canvas (st-link-analysis, Cytoscape.js): zoom, pan, drag, details, double-click to expand
  cases.py     case work: the ring's case box (assignee, state, comments) and the queue's bulk assignment
  charts.py    the Altair charts, built from data frames
  layout.py    pure helpers: palette and CSS, graph layout maths, chart rows, time/change/tooltip text
  data.py      the cached driver (st.cache_resource), cached reads (st.cache_data), the database banner
  state.py     session-state helpers and page switching from callbacks (go / apply_goto), flash messages

Every query is in graph.investigate; decisions go through graph.review.decisions; the
block list through graph.library.export (the same files as `ringwatch export`).
"""
