"""ringwatch investigator: the ring queue, a ring's graph and evidence, search, decisions, export.

Run with `ringwatch app` (or `streamlit run app.py`). The app itself lives in the
ringwatch.webapp package (main.py builds the navigation; views/ holds the pages), so an
installed package can also be served with `streamlit run <site-packages>/ringwatch/webapp/main.py`.
"""

from ringwatch.webapp.main import run

run()
