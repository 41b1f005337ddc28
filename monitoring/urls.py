"""URLs of the staff task API, mounted at /api/tasks/."""

from rest_framework.routers import SimpleRouter

from monitoring.views import TaskResultViewSet

router = SimpleRouter()
router.register("", TaskResultViewSet, basename="task")

urlpatterns = router.urls
