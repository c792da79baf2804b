"""Hosted pages of the sandbox: Checkout, billing portal and dashboard."""

from flask import Blueprint

bp = Blueprint("pages", __name__, template_folder="templates")
