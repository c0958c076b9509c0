# The seed's order service: Flask, orders in memory, and a call with `requests` to each of
# the other two services for every order it shows or places. The other services' addresses
# come from USERS_URL and PRODUCTS_URL (the seed used the Docker network's names).
import os

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)

USERS_URL = os.environ.get("USERS_URL", "http://user-service:5001")
PRODUCTS_URL = os.environ.get("PRODUCTS_URL", "http://product-service:5002")

orders = {9001: {"id": 9001, "user_id": 1, "product_id": 101, "quantity": 1}}


def enrich(order):
    user = requests.get(f"{USERS_URL}/users/{order['user_id']}", timeout=5).json()
    product = requests.get(f"{PRODUCTS_URL}/products/{order['product_id']}", timeout=5).json()
    return {**order, "user": user, "product": product}


@app.route("/orders", methods=["GET"])
def list_orders():
    return jsonify([enrich(order) for order in orders.values()])


@app.route("/orders/<int:order_id>", methods=["GET"])
def get_order(order_id):
    order = orders.get(order_id)
    if order is None:
        return jsonify({"error": "order not found"}), 404
    return jsonify(enrich(order))


@app.route("/orders", methods=["POST"])
def create_order():
    data = request.get_json(force=True)
    user = requests.get(f"{USERS_URL}/users/{data['user_id']}", timeout=5)
    product = requests.get(f"{PRODUCTS_URL}/products/{data['product_id']}", timeout=5)
    if user.status_code != 200 or product.status_code != 200:
        return jsonify({"error": "unknown user or product"}), 400
    order_id = max(orders) + 1
    order = {"id": order_id, "user_id": data["user_id"], "product_id": data["product_id"],
             "quantity": data.get("quantity", 1)}
    orders[order_id] = order
    return jsonify(order), 201
