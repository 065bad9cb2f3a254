"""Static reference tables of the synthetic world, the same for every seed.

Countries with their population weight and UTC offset, the words ISP brands are made of,
hosting providers, universities with their e-mail domains, consumer, local and disposable
e-mail domains, and the words invented company domains are made of.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CONSUMER_DOMAINS",
    "COUNTRIES",
    "COUNTRY_INDEX",
    "COUNTRY_UTC_OFFSET",
    "COUNTRY_WEIGHT",
    "DISPOSABLE_DOMAINS",
    "DOMAIN_HEADS",
    "DOMAIN_TAILS",
    "HOSTING",
    "ISP_WORDS",
    "LOCAL_DOMAINS",
    "TLDS",
    "UNIVERSITIES",
]

# country, weight, UTC offset in hours (for day-time sign-ups)
_COUNTRY_TABLE = [
    ("US", 22, -5), ("IN", 9, 5.5), ("GB", 6, 0), ("DE", 5, 1), ("FR", 4, 1), ("BR", 4, -3), ("CA", 3.5, -5),
    ("JP", 3.5, 9), ("KR", 3, 9), ("ID", 3, 7), ("AU", 2, 10), ("ES", 2, 1), ("IT", 2, 1), ("MX", 2, -6),
    ("NG", 2, 1), ("TR", 2, 3), ("VN", 2, 7), ("PH", 2, 8), ("NL", 1.5, 1), ("PL", 1.5, 1), ("PK", 1.5, 5),
    ("TW", 1.5, 8), ("SE", 1, 1), ("SG", 1, 8), ("IL", 1, 2), ("CH", 1, 1), ("ZA", 1, 2), ("AR", 1, -3),
    ("UA", 1, 2), ("EG", 1, 2),
]  # fmt: skip
COUNTRIES = [code for code, _, _ in _COUNTRY_TABLE]
COUNTRY_WEIGHT = np.array([weight for _, weight, _ in _COUNTRY_TABLE], float)
COUNTRY_WEIGHT /= COUNTRY_WEIGHT.sum()
COUNTRY_UTC_OFFSET = np.array([offset for _, _, offset in _COUNTRY_TABLE])
COUNTRY_INDEX = {code: i for i, code in enumerate(COUNTRIES)}

ISP_WORDS = """
    Northwind Bluewave Skyline Riverbend Meridian Crestnet Harbor Pinecone Silverline Horizon Evergreen
    Brightpath Summit Lakeshore Redwood Copperfield Falcon Aurora Granite Maple Cobalt Orchid Sable Tundra
    Zephyr Vista Beacon Keystone Ironbridge Goldcoast Westgate Eastline Coral Monsoon Saffron Jade Indigo
    Nimbus Quartz Solstice Kestrel Larkspur Marlin Oakridge Pelican Sequoia Tamarind Umber Valence Willow
    Yarrow Alder Bramble Cypress Driftwood Ember Fjord Glacier Heron Islay Juniper Kelp Lotus Mistral Nectar
    Obsidian Prairie Quill Rosewood Sirocco Thistle Upland Verdant Wren Xenon Yucca Zinnia""".split()
HOSTING = [
    ("Cloudline Hosting", "US"), ("Stackforge Cloud", "US"), ("Nebula Compute", "DE"), ("Packetbarn", "NL"),
    ("Hostiq Servers", "FR"), ("Vaultrack DC", "GB"), ("OrbitVPS", "SG"), ("Kumo Cloud", "JP"),
]  # fmt: skip
UNIVERSITIES = [  # name, country, e-mail domain
    ("University of Eastbrook", "US", "eastbrook.edu"),
    ("Northfield Institute of Technology", "US", "nfit.edu"),
    ("Westmoor University", "GB", "westmoor.ac.uk"),
    ("Technische Hochschule Lindenau", "DE", "th-lindenau.de"),
    ("Universite de Valmont", "FR", "univ-valmont.fr"),
    ("Kitamura University", "JP", "kitamura-u.ac.jp"),
    ("Hanbit National University", "KR", "hanbit.ac.kr"),
    ("Rampur Institute of Science", "IN", "ris.ac.in"),
    ("Universidade Serra Azul", "BR", "usazul.edu.br"),
    ("University of Kingsford", "CA", "kingsford.ca"),
    ("Harbourside University", "AU", "harbourside.edu.au"),
    ("Zeeland Technical University", "NL", "ztu.nl"),
    ("Alpenrand Polytechnic", "CH", "alpenrand.ch"),
    ("Merlion Institute of Technology", "SG", "merlion.edu.sg"),
    ("Universitat Costa Daurada", "ES", "ucdaurada.es"),
    ("Universita di Montelago", "IT", "unimontelago.it"),
    ("Politechnika Wislana", "PL", "pwis.edu.pl"),
    ("Uppvik University", "SE", "uppvik.se"),
    ("Carmel Institute of Science", "IL", "carmel-sci.ac.il"),
    ("Universidad del Valle Alto", "MX", "uvalto.mx"),
    ("Institut Teknologi Nusantara", "ID", "itn.ac.id"),
    ("University of Lagosia", "NG", "unilagosia.edu.ng"),
    ("Bosphorus Technical University", "TR", "btu.edu.tr"),
    ("Formosa Tech University", "TW", "formosatech.edu.tw"),
    ("Rampur Institute of Technology", "IN", "rit.ac.in"),
    ("University of Stonehaven", "US", "stonehaven.edu"),
]
CONSUMER_DOMAINS = [
    ("gmail.com", 45), ("outlook.com", 10), ("hotmail.com", 6), ("yahoo.com", 6), ("icloud.com", 5),
    ("proton.me", 2),
]  # fmt: skip
LOCAL_DOMAINS = {
    "DE": ["gmx.de", "web.de", "t-online.de"], "FR": ["orange.fr", "free.fr"],
    "JP": ["yahoo.co.jp", "docomo.ne.jp"],
    "KR": ["naver.com", "daum.net"], "IN": ["rediffmail.com"], "BR": ["uol.com.br", "bol.com.br"],
    "IT": ["libero.it"], "PL": ["wp.pl", "onet.pl"], "GB": ["btinternet.com", "sky.com"], "UA": ["ukr.net"],
    "MX": ["prodigy.net.mx"], "AU": ["bigpond.com"], "CA": ["rogers.com"], "NL": ["ziggo.nl"],
    "SE": ["telia.com"], "CH": ["bluewin.ch"], "ES": ["telefonica.net"], "TR": ["yandex.com.tr"],
}  # fmt: skip
DISPOSABLE_DOMAINS = ["quickinbox.net", "burnermail.app", "tmpmail.dev", "mailshed.io"]
DOMAIN_HEADS = """blue bright swift clear deep north open prime quant red silver smart solid true vivid wild zen
    apex nova lumen astro hyper meta neo omni pixel rapid sage terra ultra vector core data cloud logic
    signal""".split()
DOMAIN_TAILS = """labs works forge stack bridge path scale mind loop grid wave leaf field point shift craft flow
    hub line nest ops peak port ridge spark sync tide trail vault yard metrics systems analytics
    health""".split()
TLDS = ["com", "io", "ai", "co", "dev", "net", "tech", "app"]
