"""The cold-start yardstick: the smallest function functions-framework can serve.

The benchmark starts it exactly as it starts switch and divides switch's cold
start by this one's, so the ratio says what switch adds on top of Python,
Flask and gunicorn, whatever the machine.
"""

import functions_framework


@functions_framework.http
def trivial(request):
    return "ok"
