"""mmalign.data"""
