"""The tap-to-rate feedback page (H5, inside WeChat's browser or any phone browser), an edge like console/:
`routes.py` (the form, 我的反馈, OAuth, the form's QR), `identity.py` (openid, userid or anonymous device in a
signed cookie), `sheets.py` (table QR sheets, the Official Account menu), `texts.py`, `templates/`, `static/`.
What a submission stores is feedback/forms.py's."""
