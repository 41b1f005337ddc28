"""URLs of the task monitoring API, mounted at /api/tasks/."""

from rest_framework.routers import SimpleRouter

from tasks.views import TaskResultViewSet

router = SimpleRouter()
router.register("", TaskResultViewSet, basename="task")

urlpatterns = router.urls
