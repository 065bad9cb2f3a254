"""The app's pages, one file each; main.py registers them with st.navigation as file pages.

  queue.py    the ring queue (filters, counts, the table; a row opens its ring)
  ring.py     one ring: header, graph, members, activity, features, history, the decision form
  search.py   find an entity; its rings and its neighbourhood
  queries.py  the query library: a form per query from its @param header, read-only runs, CSV
  export.py   the block list as CSV and JSON downloads

Streamlit runs a page file as `__main__` each time it is shown: each file ends with
`if __name__ == "__main__": render(...)`, so importing it (tests, linters) draws nothing.
The folder is not called `pages/`: beside a served script that name turns on Streamlit's
older directory-based multipage mode.
"""
