"""io/inputs"""
