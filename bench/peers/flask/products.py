# The seed's product service: Flask, an in-memory dictionary of products with their stock.
from flask import Flask, jsonify

app = Flask(__name__)

products = {
    101: {"id": 101, "name": "Laptop", "price": 1200.0, "stock": 1000000},
    102: {"id": 102, "name": "Phone", "price": 800.0, "stock": 1000000},
}


@app.route("/products", methods=["GET"])
def list_products():
    return jsonify(list(products.values()))


@app.route("/products/<int:product_id>", methods=["GET"])
def get_product(product_id):
    product = products.get(product_id)
    if product is None:
        return jsonify({"error": "product not found"}), 404
    return jsonify(product)
