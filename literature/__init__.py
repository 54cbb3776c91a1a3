"""Literature mining: papers to structured material-property records (issue 5).

Science layer: text in, records out; never imports the database, Prefect or HTTP code.
"""

__all__: list[str] = []
