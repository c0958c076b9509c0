# The seed's user service, as the classic teaching setup wrote it: Flask, an in-memory
# dictionary, no authentication. msa bench runs it under gunicorn as a peer (issue 14).
from flask import Flask, jsonify

app = Flask(__name__)

users = {
    1: {"id": 1, "name": "Alice", "email": "alice@example.com"},
    2: {"id": 2, "name": "Bob", "email": "bob@example.com"},
}


@app.route("/users", methods=["GET"])
def list_users():
    return jsonify(list(users.values()))


@app.route("/users/<int:user_id>", methods=["GET"])
def get_user(user_id):
    user = users.get(user_id)
    if user is None:
        return jsonify({"error": "user not found"}), 404
    return jsonify(user)
