"""Lesson 01, requests: answers students write for the exercises of solutions/01_requests.ipynb."""

from __future__ import annotations

from corpus import correct, mistake

# Each case starts from a copy of the namespace after the setup cell (the server, `api_url`, `course_url`), and
# the cells before the exercise define the earlier answers: there is nothing to make fresh.
RESET = """
"""

CASES = [
    # 01.1 a page that does not exist
    mistake(
        "01.1",
        "asks for a path that exists",
        'missing = requests.get(f"{api_url}/astros.json", timeout=10)',
        "got 200",
        "path that exists",
    ),
    mistake(
        "01.1",
        "stores the status code, not the Response",
        'missing = requests.get(f"{api_url}/this-api-doesnt-exist", timeout=10).status_code',
        "the number 404",
        "status code, not the Response",
    ),
    mistake(
        "01.1",
        "stores the decoded body, not the Response",
        'missing = requests.get(f"{api_url}/this-api-doesnt-exist", timeout=10).json()',
        "decoded body",
        "not the Response",
    ),
    mistake(
        "01.1",
        "asks /status/404, a route that answers 404 on purpose",
        'missing = requests.get(f"{api_url}/status/404", timeout=10)',
        "/status/",
        "on purpose",
    ),
    mistake(
        "01.1",
        "an invalid item instead of a missing path",
        'missing = requests.get(f"{course_url}/items/foo", timeout=10)',
        "got 422",
        "path exists",
    ),
    correct(
        "01.1",
        "another missing path, with a connect and a read timeout",
        'missing = requests.get(api_url + "/no/such/page", timeout=(3.05, 10))',
    ),
    # 01.2 people in space
    mistake(
        "01.2",
        "keeps the text of the body",
        """
astros_response = requests.get(f"{api_url}/astros.json", timeout=10)
astros = astros_response.text
meaning = HTTPStatus(astros_response.status_code).phrase
""",
        "raw text",
        "response.json()",
    ),
    mistake(
        "01.2",
        "forgets the parentheses of .json()",
        """
astros_response = requests.get(f"{api_url}/astros.json", timeout=10)
astros = astros_response.json
meaning = HTTPStatus(astros_response.status_code).phrase
""",
        "method",
        "parentheses",
    ),
    mistake(
        "01.2",
        "stores the HTTPStatus member, not its phrase",
        """
astros_response = requests.get(f"{api_url}/astros.json", timeout=10)
astros = astros_response.json()
meaning = HTTPStatus(astros_response.status_code)
""",
        "the status itself",
        ".phrase",
    ),
    mistake(
        "01.2",
        "stores the status's description",
        """
astros_response = requests.get(f"{api_url}/astros.json", timeout=10)
astros = astros_response.json()
meaning = HTTPStatus(astros_response.status_code).description
""",
        "description",
        ".phrase",
    ),
    mistake(
        "01.2",
        "stores the status code as its meaning",
        """
astros_response = requests.get(f"{api_url}/astros.json", timeout=10)
astros = astros_response.json()
meaning = astros_response.status_code
""",
        "the number 200",
        "phrase",
    ),
    mistake(
        "01.2",
        "leaves .json out of the path",
        """
astros_response = requests.get(f"{api_url}/astros", timeout=10)
astros = astros_response.json()
meaning = HTTPStatus(astros_response.status_code).phrase
""",
        "/astros",
        "with .json at the end",
    ),
    correct(
        "01.2",
        "json.loads of the text, and the server's reason",
        """
import json

astros_response = requests.get(api_url + "/astros.json", timeout=5)
astros_response.raise_for_status()
astros = json.loads(astros_response.text)
meaning = astros_response.reason
""",
    ),
    # 01.3 who is on which craft
    mistake(
        "01.3",
        "counts the people instead of naming them",
        """
crafts = {}
for person in astros["people"]:
    crafts[person["craft"]] = crafts.get(person["craft"], 0) + 1
""",
        "is the number",
        "counted",
    ),
    mistake(
        "01.3",
        "a dict comprehension keeps one name per craft",
        'crafts = {person["craft"]: person["name"] for person in astros["people"]}',
        "one name",
        "give each craft a list",
    ),
    mistake(
        "01.3",
        "makes a new list for every person",
        """
crafts = {}
for person in astros["people"]:
    crafts[person["craft"]] = [person["name"]]
""",
        "people are on board",
        "append",
    ),
    mistake(
        "01.3",
        "sorts the names",
        """
crafts = {}
for person in astros["people"]:
    crafts.setdefault(person["craft"], []).append(person["name"])
for names in crafts.values():
    names.sort()
""",
        "right names",
        "document's order",
    ),
    mistake(
        "01.3",
        "uses the names as keys",
        """
crafts = {}
for person in astros["people"]:
    crafts.setdefault(person["name"], []).append(person["craft"])
""",
        "keys of `crafts` are people's names",
        "person['craft']",
    ),
    mistake(
        "01.3",
        "appends whole person dicts",
        """
crafts = {}
for person in astros["people"]:
    crafts.setdefault(person["craft"], []).append(person)
""",
        "whole person dicts",
        "person['name']",
    ),
    correct(
        "01.3",
        "a defaultdict",
        """
from collections import defaultdict

crafts = defaultdict(list)
for person in astros["people"]:
    crafts[person["craft"]].append(person["name"])
""",
    ),
    correct(
        "01.3",
        "an if that starts each list",
        """
crafts = {}
for person in astros["people"]:
    craft = person["craft"]
    if craft not in crafts:
        crafts[craft] = []
    crafts[craft].append(person["name"])
""",
    ),
    # 01.4 query parameters
    mistake(
        "01.4",
        "item without the s",
        'item_response = requests.get(f"{course_url}/item/5", params={"q": "somequery"}, timeout=10)',
        "/item/5",
        "the s in items",
    ),
    mistake(
        "01.4",
        "the wrong parameter name",
        'item_response = requests.get(f"{course_url}/items/5", params={"query": "somequery"}, timeout=10)',
        "'query=somequery'",
        "named q",
    ),
    mistake(
        "01.4",
        "data= on a GET",
        'item_response = requests.get(f"{course_url}/items/5", data={"q": "somequery"}, timeout=10)',
        "no query string",
        "params=",
    ),
    mistake(
        "01.4",
        "the item id as a query parameter too",
        'item_response = requests.get(f"{course_url}/items", params={"item_id": 5, "q": "somequery"}, timeout=10)',
        "part of the path, /items/5",
        "not a query parameter",
    ),
    mistake(
        "01.4",
        "stores the decoded body",
        'item_response = requests.get(f"{course_url}/items/5", params={"q": "somequery"}, timeout=10).json()',
        "decoded body",
        "not the Response",
    ),
    correct(
        "01.4",
        "params as the second positional argument",
        'item_response = requests.get(course_url + "/items/" + str(5), dict(q="somequery"), timeout=5)',
    ),
    # 01.5 status classes
    mistake(
        "01.5",
        "refuses 599 (< instead of <=)",
        """
def status_class(code):
    if code < 100 or code >= 599:
        raise ValueError(f"{code} is not a status code")
    return {1: "informational", 2: "success", 3: "redirection", 4: "client error", 5: "server error"}[code // 100]
""",
        "status_class(599) raised ValueError",
        "both ends",
    ),
    mistake(
        "01.5",
        "returns the ValueError instead of raising it",
        """
def status_class(code):
    if not 100 <= code <= 599:
        return ValueError("not a status code")
    return {1: "informational", 2: "success", 3: "redirection", 4: "client error", 5: "server error"}[code // 100]
""",
        "instead of raising it",
        "raise ValueError",
    ),
    mistake(
        "01.5",
        "no range check: a KeyError for 99",
        """
def status_class(code):
    classes = {1: "informational", 2: "success", 3: "redirection", 4: "client error", 5: "server error"}
    return classes[code // 100]
""",
        "raised KeyError",
        "must raise ValueError",
    ),
    mistake(
        "01.5",
        "divides with / instead of //",
        """
def status_class(code):
    classes = {1: "informational", 2: "success", 3: "redirection", 4: "client error", 5: "server error"}
    if not 100 <= code <= 599:
        raise ValueError("not a status code")
    return classes[code / 100]
""",
        "KeyError",
        "//",
    ),
    mistake(
        "01.5",
        "class names with underscores",
        """
def status_class(code):
    if not 100 <= code <= 599:
        raise ValueError("not a status code")
    names = ["informational", "success", "redirection", "client_error", "server_error"]
    return names[code // 100 - 1]
""",
        "'client_error'",
        "spell the class exactly 'client error'",
    ),
    mistake(
        "01.5",
        "assert instead of raise",
        """
def status_class(code):
    assert 100 <= code <= 599, "not a status code"
    return {1: "informational", 2: "success", 3: "redirection", 4: "client error", 5: "server error"}[code // 100]
""",
        "raised AssertionError",
        "must raise ValueError",
    ),
    mistake(
        "01.5",
        "an if chain that returns None for other numbers",
        """
def status_class(code):
    if 100 <= code < 200:
        return "informational"
    elif 200 <= code < 300:
        return "success"
    elif 300 <= code < 400:
        return "redirection"
    elif 400 <= code < 500:
        return "client error"
    elif 500 <= code < 600:
        return "server error"
""",
        "returned None",
        "raise ValueError",
    ),
    correct(
        "01.5",
        "an if chain with a final raise",
        """
def status_class(code: int) -> str:
    if 100 <= code <= 199:
        return "informational"
    if 200 <= code <= 299:
        return "success"
    if 300 <= code <= 399:
        return "redirection"
    if 400 <= code <= 499:
        return "client error"
    if 500 <= code <= 599:
        return "server error"
    raise ValueError(f"{code} is not an HTTP status code")
""",
    ),
    # 01.6 a careful client
    mistake(
        "01.6",
        "no timeout",
        """
def get_json(url, timeout=5):
    response = requests.get(url)
    response.raise_for_status()
    return response.json()
""",
        "does not pass timeout=",
        "forever",
    ),
    mistake(
        "01.6",
        "no raise_for_status",
        """
def get_json(url, timeout=5):
    return requests.get(url, timeout=timeout).json()
""",
        "returned normally for a 404",
        "raise_for_status()",
    ),
    mistake(
        "01.6",
        "returns the Response",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response
""",
        "returned the Response itself",
        "response.json()",
    ),
    mistake(
        "01.6",
        "catches the HTTPError and returns None",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout=timeout)
    try:
        response.raise_for_status()
    except requests.HTTPError as error:
        print("Request failed:", error)
        return None
    return response.json()
""",
        "returned None for a 404",
        "do not catch it",
    ),
    mistake(
        "01.6",
        "raises a plain Exception",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout=timeout)
    if response.status_code >= 400:
        raise Exception(f"Request failed with status {response.status_code}")
    return response.json()
""",
        "raised Exception",
        "expects requests.HTTPError",
    ),
    mistake(
        "01.6",
        "passes the timeout as the second positional argument",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout)
    response.raise_for_status()
    return response.json()
""",
        "params=",
        "timeout=timeout",
    ),
    mistake(
        "01.6",
        "ignores its timeout parameter",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.json()
""",
        "timeout=2.5",
        "timeout=timeout",
    ),
    mistake(
        "01.6",
        "the timeout defaults to None",
        """
def get_json(url, timeout=None):
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()
""",
        "defaults to None",
        "wait forever",
    ),
    mistake(
        "01.6",
        "raises for 404 only",
        """
def get_json(url, timeout=5):
    response = requests.get(url, timeout=timeout)
    if response.status_code == 404:
        response.raise_for_status()
    return response.json()
""",
        "returned normally for a 503",
        "raise_for_status()",
    ),
    correct(
        "01.6",
        "its own HTTPError, a session and a (connect, read) timeout",
        """
def get_json(url: str, timeout: float = 5) -> dict:
    with requests.Session() as session:
        response = session.get(url, timeout=(3.05, timeout))
    if not response.ok:
        raise requests.HTTPError(f"{response.status_code} for {url}", response=response)
    return response.json()
""",
    ),
]
